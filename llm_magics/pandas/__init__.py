"""The pandas face: ``df.llm.apply()`` fans a prompt template out over rows.

    >>> import pandas as pd, llm_magics
    >>> df = pd.DataFrame({"word": ["cat", "dog", None]})
    >>> df["definition"] = df.llm.apply("Define {word} in five words.")   # doctest: +SKIP
    >>> df.llm.last_errors                                                # doctest: +SKIP

Layout: ``templates`` (rows -> prompts), ``plan`` (prompts -> requests through
the core's seam, then the mode's backend), ``results`` (outcomes ->
Series/DataFrame, failed rows), ``accessor`` (the ``.llm`` namespace). The
handle of a background apply is the core's ``FanoutJob``. Imports pandas: load it through
``register()`` or ``llm_magics.pandas_hook``, never from the core.
"""

from __future__ import annotations

from .accessor import LLMDataFrameAccessor, LLMSeriesAccessor, register
from .results import RowError

__all__ = [
    "register",
    "LLMDataFrameAccessor",
    "LLMSeriesAccessor",
    "RowError",
]

register()  # importing the pandas face is what installs df.llm
