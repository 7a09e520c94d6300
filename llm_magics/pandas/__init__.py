"""The pandas face: ``df.llm.apply()`` fans a prompt template out over rows.

    >>> import pandas as pd, llm_magics
    >>> df = pd.DataFrame({"word": ["cat", "dog", None]})
    >>> df["definition"] = df.llm.apply("Define {word} in five words.")   # doctest: +SKIP
    >>> df.llm.last_errors                                                # doctest: +SKIP

Layout: ``templates`` (rows -> prompts), ``plan`` (prompts -> requests, before
any call), ``modes`` (requests -> outcomes: async, batch, queue),
``job`` (the handle), ``results`` (outcomes -> Series/DataFrame, failed rows),
``accessor`` (the ``.llm`` namespace). Imports pandas: load it through
``register()`` or ``llm_magics.pandas_hook``, never from the core.
"""

from __future__ import annotations

from .accessor import LLMDataFrameAccessor, LLMSeriesAccessor, register
from .job import ApplyJob
from .results import RowError

__all__ = [
    "register",
    "LLMDataFrameAccessor",
    "LLMSeriesAccessor",
    "ApplyJob",
    "RowError",
]

register()  # importing the pandas face is what installs df.llm
