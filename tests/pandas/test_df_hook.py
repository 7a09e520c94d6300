"""df.llm appears whichever of pandas and llm_magics is imported first; pandas stays optional.

Each case runs in a fresh interpreter: import order is process state.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_hook_registers_when_pandas_is_imported_later():
    out = run("""
        import sys
        from llm_magics import pandas_hook
        pandas_hook.install()
        pandas_hook.install()  # idempotent: one finder
        assert "pandas" not in sys.modules
        assert sum(type(f).__name__ == "_PandasFinder" for f in sys.meta_path) == 1
        import pandas as pd
        from llm_magics.pandas import LLMDataFrameAccessor, LLMSeriesAccessor
        assert pd.DataFrame.llm is LLMDataFrameAccessor and pd.Series.llm is LLMSeriesAccessor
        assert not any(type(f).__name__ == "_PandasFinder" for f in sys.meta_path)
        assert type(pd.__spec__.loader).__name__ == "SourceFileLoader"  # real loader restored
        print(pd.DataFrame({"a": [1]}).llm.last_errors.empty)
    """)
    assert out == "True"


def test_hook_registers_at_once_when_pandas_is_already_imported():
    out = run("""
        import sys, warnings
        warnings.simplefilter("error")  # re-registering would warn
        import pandas as pd
        from llm_magics import pandas_hook
        pandas_hook.install()
        pandas_hook.install()
        from llm_magics.pandas import register
        register()
        assert not any(type(f).__name__ == "_PandasFinder" for f in sys.meta_path)
        print(type(pd.Series([1]).llm).__name__)
    """)
    assert out == "LLMSeriesAccessor"


def test_submodule_import_first_still_registers():
    out = run("""
        from llm_magics import pandas_hook
        pandas_hook.install()
        from pandas.api.types import is_scalar
        import pandas
        print(hasattr(pandas.DataFrame, "llm"))
    """)
    assert out == "True"


def test_pandas_face_does_not_import_widgets_outside_a_notebook():
    out = run("""
        import sys
        import pandas as pd
        from llm_magics.pandas import register
        register()
        from llm_magics.core import progress
        print("ipywidgets" in sys.modules, "IPython" in sys.modules)
    """)
    assert out == "False False"


_WIRED = "pandas_hook" in (REPO / "llm_magics" / "__init__.py").read_text()


@pytest.mark.skipif(not _WIRED, reason="llm_magics/__init__.py does not call pandas_hook yet")
@pytest.mark.parametrize("first", ["pandas", "llm_magics"])
def test_import_llm_magics_alone_gives_df_llm_in_either_order(first):
    second = "llm_magics" if first == "pandas" else "pandas"
    out = run(f"""
        import sys
        import {first}
        assert ("pandas" in sys.modules) == ({first!r} == "pandas")
        import {second}
        import pandas as pd
        print(hasattr(pd.DataFrame, "llm"), hasattr(pd.Series, "llm"))
    """)
    assert out == "True True"
