"""df.llm.apply / s.llm.apply against the simulator: alignment, NA, dedup, errors, cache."""

from __future__ import annotations

import pandas as pd
import pytest

from llm_magics import errors
from llm_magics.pandas import RowError
from llm_magics.server.sim import expected_answer


def test_result_keeps_a_shuffled_non_unique_string_index(llm):
    df = pd.DataFrame(
        {"w": ["kiwi", "fig", "plum", "pear", "lime"]},
        index=pd.Index(["e", "b", "e", "a", "c"], dtype="str"),
    )
    out = df.llm.apply("ECHO: {w}!", progress=False)
    assert out.index.equals(df.index) and out.index.dtype == df.index.dtype
    assert out.tolist() == ["kiwi!", "fig!", "plum!", "pear!", "lime!"]


def test_answers_are_the_servers_answers_for_each_row(llm, body):
    df = pd.DataFrame({"w": ["cat", "dog"]}, index=[10, 3])
    out = df.llm.apply("Define {w}", system="Be brief.", progress=False)
    assert out.loc[10] == expected_answer(body("Define cat", system="Be brief."))
    assert out.loc[3] == expected_answer(body("Define dog", system="Be brief."))


def test_request_params_reach_the_server(llm):
    out = pd.Series(["a b c d e f"]).llm.apply("ECHO: {}", max_tokens=3, progress=False)
    assert out.iloc[0] == "a b c"  # the simulator cut the answer at 3 tokens


def test_rows_with_missing_values_get_na_and_send_nothing(llm):
    df = pd.DataFrame({"w": ["a", None, "b", float("nan"), pd.NA], "n": [1, 2, 3, 4, 5]})
    out = df.llm.apply("ECHO: {w} {n}", progress=False)
    assert out.isna().tolist() == [False, True, False, True, True]
    assert out.dropna().tolist() == ["a 1", "b 3"]
    assert llm.stats["chat_requests"] == 2
    assert df.llm.last_errors.empty


def test_identical_prompts_are_sent_once_and_share_the_answer(llm, body):
    df = pd.DataFrame({"w": ["x", "y", "x", "x", "y", "z"]})
    out = df.llm.apply("Define {w}", progress=False, cache=False)
    assert llm.stats["chat_requests"] == 3
    assert out.tolist() == [expected_answer(body(f"Define {w}")) for w in df["w"]]


def test_missing_column_fails_before_any_call(llm):
    df = pd.DataFrame({"title": ["a"], "body": ["b"]})
    with pytest.raises(errors.TemplateError, match=r"\{text\}.*'title', 'body'"):
        df.llm.apply("Summarise {text}", progress=False)
    assert llm.stats["chat_requests"] == 0


def test_coerce_leaves_na_and_lists_failed_rows(llm):
    df = pd.DataFrame({"p": ["ECHO: ok", "STATUS:400 bad", "ECHO: fine", "STATUS:404 gone"]},
                      index=["a", "b", "c", "d"])
    out = df.llm.apply("{p}", progress=False)
    assert out.tolist()[0] == "ok" and out.tolist()[2] == "fine"
    assert out.isna().tolist() == [False, True, False, True]
    failed = df.llm.last_errors
    assert failed.index.tolist() == ["b", "d"]
    assert isinstance(failed["b"], errors.InvalidRequestError) and failed["b"].status_code == 400
    assert isinstance(failed["d"], errors.ModelNotFoundError)
    assert out.attrs["llm_errors"] == [RowError(1, "b", failed["b"]), RowError(3, "d", failed["d"])]


def test_last_errors_belong_to_their_own_object(llm):
    a = pd.DataFrame({"p": ["STATUS:400 x"]})
    b = pd.DataFrame({"p": ["ECHO: y"]})
    a.llm.apply("{p}", progress=False)
    b.llm.apply("{p}", progress=False)
    assert len(a.llm.last_errors) == 1 and b.llm.last_errors.empty
    assert pd.DataFrame({"p": ["unused"]}).llm.last_errors.empty


def test_raise_raises_after_the_run_and_keeps_finished_rows_cached(llm):
    df = pd.DataFrame({"p": ["ECHO: one", "STATUS:400 bad", "ECHO: two", "ECHO: three"]})
    with pytest.raises(errors.InvalidRequestError, match="1 of 4 rows failed") as info:
        df.llm.apply("{p}", errors="raise", progress=False)
    assert [e.position for e in info.value.row_errors] == [1]
    assert llm.stats["chat_requests"] == 4
    out = df.llm.apply("{p}", progress=False)  # re-run: only the failed row is sent again
    assert llm.stats["chat_requests"] == 5
    assert out.tolist()[0] == "one" and out.isna().tolist() == [False, True, False, False]


def test_raise_with_rows_known_bad_before_sending_sends_nothing(llm):
    df = pd.DataFrame({"p": ["fine", "boom"]})

    def prompt(row):
        if row["p"] == "boom":
            raise ValueError("no")
        return row["p"]

    with pytest.raises(errors.TemplateError, match="1 of 2 rows failed"):
        df.llm.apply(prompt, errors="raise", progress=False)
    assert llm.stats["chat_requests"] == 0


def test_a_second_run_is_served_from_the_cache(llm):
    df = pd.DataFrame({"w": [f"w{i}" for i in range(12)]})
    first = df.llm.apply("Define {w}", progress=False)
    assert llm.stats["chat_requests"] == 12
    second = df.llm.apply("Define {w}", progress=False)
    assert llm.stats["chat_requests"] == 12
    pd.testing.assert_series_equal(first, second)


def test_series_accessor_keeps_index_and_name(llm):
    s = pd.Series(["chat", None, "chien"], index=[5, 1, 5], name="fr")
    out = s.llm.apply("ECHO: EN({})", progress=False)
    assert out.index.equals(s.index) and out.name == "fr"
    assert out.tolist()[0] == "EN(chat)" and pd.isna(out.tolist()[1])
    assert llm.stats["chat_requests"] == 2


def test_callable_template_can_return_messages(llm, body):
    df = pd.DataFrame({"q": ["why", "how"]})
    out = df.llm.apply(lambda row: [{"role": "system", "content": "Sys."},
                                    {"role": "user", "content": f"Q: {row['q']}"}],
                       progress=False)
    assert out.tolist() == [expected_answer(body(f"Q: {q}", system="Sys.")) for q in df["q"]]


def test_an_unknown_mode_is_refused_before_any_work(llm):
    with pytest.raises(errors.InvalidRequestError, match="not a mode"):
        pd.DataFrame({"w": ["a"]}).llm.apply("{w}", mode="sideways")
    assert llm.stats["chat_requests"] == 0


def test_bad_arguments_are_refused_before_any_call(llm):
    df = pd.DataFrame({"w": ["a"]})
    with pytest.raises(errors.InvalidRequestError, match="errors='maybe'"):
        df.llm.apply("{w}", errors="maybe")
    with pytest.raises(errors.InvalidRequestError, match="not a mode"):
        df.llm.apply("{w}", mode="fast")
    with pytest.raises(errors.ConfigurationError, match="concurrency"):
        df.llm.apply("{w}", concurrency=0)
    assert llm.stats["chat_requests"] == 0


def test_concurrency_bounds_requests_in_flight(llm):
    llm.configure(latency_s=0.05)
    pd.DataFrame({"w": [f"w{i}" for i in range(24)]}).llm.apply(
        "{w}", concurrency=3, progress=False)
    assert llm.stats["max_in_flight"] == 3


def test_progress_false_shows_nothing_and_true_draws_a_bar_on_stderr(llm, capfd):
    df = pd.DataFrame({"w": ["a", "b"]})
    df.llm.apply("{w}", progress=False)
    quiet = capfd.readouterr()
    assert quiet.out == "" and quiet.err == ""
    df.llm.apply("ECHO: {w}", progress=True)
    shown = capfd.readouterr()
    assert shown.out == "" and "2/2" in shown.err and "llm.apply" in shown.err


def test_an_empty_frame_gives_an_empty_result_without_calls(llm):
    out = pd.DataFrame({"w": pd.Series([], dtype="str")}).llm.apply("{w}", progress=False)
    assert out.empty and llm.stats["chat_requests"] == 0


def test_public_surface_is_pinned():
    import llm_magics.pandas as face

    assert sorted(face.__all__) == sorted([
        "register", "LLMDataFrameAccessor", "LLMSeriesAccessor", "RowError",
    ])
    assert all(hasattr(face, name) for name in face.__all__)
