"""df.llm.apply refuses a mistyped keyword or a NaN parameter before any row is sent."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from llm_magics import errors


def test_a_typo_in_a_setting_is_refused_with_the_closest_name(llm):
    df = pd.DataFrame({"w": ["a", "b", "c"]})
    with pytest.raises(errors.InvalidRequestError, match="did you mean `rpm`"):
        df.llm.apply("Define {w}", rmp=500, progress=False)
    assert llm.stats["chat_requests"] == 0


def test_a_nan_parameter_is_refused_before_any_row_is_sent(llm):
    with pytest.raises(errors.InvalidRequestError, match="temperature is nan"):
        pd.Series(["a", "b"]).llm.apply("Define {}", temperature=math.nan, progress=False)
    assert llm.stats["chat_requests"] == 0


def test_extra_body_reaches_every_row(llm):
    # The simulator ignores fields it does not know; what matters is that they are not refused.
    out = pd.Series(["a b c d"]).llm.apply("ECHO: {}", extra_body={"top_k": 5}, max_tokens=2,
                                           progress=False)
    assert out.tolist() == ["a b"]
