"""Pure pieces of the simulator: answers, directives, schema filling, limits, shapes."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from llm_magics.server import openai_shapes as shapes
from llm_magics.server.sim import SimConfig, expected_answer, parse_directives
from llm_magics.server.sim.answers import compute_answer, estimate_prompt_tokens, split_pieces
from llm_magics.server.sim.config import coerce
from llm_magics.server.sim.faults import FaultDice
from llm_magics.server.sim.limits import Bucket, RateLimiter, format_reset
from llm_magics.server.sim.schema_fill import fill_schema
from tests.support.sim import Simulator


def req(text: str, **params: object) -> dict[str, object]:
    return {"model": "sim-small", "messages": [{"role": "user", "content": text}], **params}


@pytest.mark.parametrize("text", ["", "one", " lead", "a  b\n\nc ", '{"k": [1, 2]}', "x\t"])
def test_pieces_join_back_to_the_text(text: str) -> None:
    assert "".join(split_pieces(text)) == text


def test_default_answer_length_and_cut() -> None:
    config = SimConfig(answer_tokens=7)
    answer = compute_answer(req("hi"), config)
    assert len(answer.pieces) == 7 and answer.finish_reason == "stop"
    cut = compute_answer(req("hi", max_tokens=2), config)
    assert cut.pieces == answer.pieces[:2] and cut.finish_reason == "length"
    assert compute_answer(req("hi", max_tokens=2, max_completion_tokens=3), config).pieces == (
        answer.pieces[:3]
    )


def test_expected_answer_depends_on_model_messages_and_format() -> None:
    base = expected_answer(req("hi"))
    assert base == expected_answer(req("hi", temperature=0.9))  # sampling params don't matter
    assert base != expected_answer({**req("hi"), "model": "sim-large"})
    assert base != expected_answer(req("hi", response_format={"type": "text"}))


def test_directive_parsing() -> None:
    d = parse_directives("  STATUS:429 SLEEP:0.5 TOKENS:4 DROP:2 MALFORMED:1 HANG: ECHO: rest")
    assert (d.status, d.sleep_s, d.tokens, d.drop_after, d.malformed_after, d.hang) == (
        429, 0.5, 4, 2, 1, True
    )
    assert d.echo == "rest"
    assert parse_directives("STATUS:abc ECHO: x").status is None  # malformed ends the prefix
    assert parse_directives("please ECHO: x").echo is None  # only at the start
    assert parse_directives("BADJSON:").badjson == ""
    assert parse_directives("ECHO:  two spaces").echo == " two spaces"


def test_badjson_is_invalid_json() -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(expected_answer(req("BADJSON: anything")))


def test_prompt_tokens_are_about_four_chars_each() -> None:
    short = estimate_prompt_tokens([{"role": "user", "content": "x" * 4}])
    long = estimate_prompt_tokens([{"role": "user", "content": "x" * 400}])
    assert long - short == 99
    parts = [{"role": "user", "content": [{"type": "text", "text": "x" * 400}]}]
    assert estimate_prompt_tokens(parts) == long


def test_fill_schema_covers_pydantic_shapes() -> None:
    schema = {
        "$defs": {"Inner": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "type": "object",
        "properties": {
            "kind": {"enum": ["b", "a"]},
            "fixed": {"const": 3},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "number", "minimum": 2}]},
            "inner": {"$ref": "#/$defs/Inner"},
            "items": {"type": "array", "items": {"type": "boolean"}, "minItems": 2},
            "when": {"type": "string", "format": "date-time"},
            "code": {"type": "string", "maxLength": 3},
            "pct": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "multi": {"type": ["null", "integer"]},
        },
    }
    value = fill_schema(schema)
    assert value["kind"] == "b" and value["fixed"] == 3 and value["maybe"] == 2
    assert value["inner"] == {"n": 1} and value["items"] == [True, True]
    assert value["when"].endswith("Z") and len(value["code"]) <= 3
    assert 0 < value["pct"] < 1 and value["multi"] == 1


def test_fill_schema_survives_recursive_refs() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    json.dumps(fill_schema(schema))  # terminates and is serialisable


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.12, "120ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s"), (90.25, "1m30.25s")],
)
def test_reset_durations_look_like_openai(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_bucket_refills_continuously() -> None:
    bucket = Bucket(60, stamp=0.0)
    bucket.level = 0.0
    bucket.refill(0.5)
    assert bucket.level == pytest.approx(0.5)
    assert bucket.wait_for(1) == pytest.approx(0.5)
    assert bucket.wait_for(61) == math.inf
    bucket.refill(1000.0)
    assert bucket.level == 60


def test_limiter_checks_both_buckets_before_spending() -> None:
    limiter = RateLimiter(rpm=10, tpm=100)
    assert limiter.check("m", 90, now=0.0).allowed
    refused = limiter.check("m", 50, now=0.0)
    assert not refused.allowed and refused.kind == "tokens"
    assert refused.headers["x-ratelimit-remaining-requests"] == "9"  # not spent by the refusal
    assert int(refused.headers["retry-after"]) >= 1
    assert RateLimiter(None, None).check("m", 10**9).allowed


def test_fault_dice_are_seeded_and_rate_independent() -> None:
    config = SimConfig(error_rate=0.5)
    a = [FaultDice(3).roll(config) for _ in range(1)]
    dice = FaultDice(3)
    b = [dice.roll(config) for _ in range(20)]
    dice.reseed(3)
    assert [dice.roll(config) for _ in range(20)] == b and a[0] == b[0]
    quiet = FaultDice(3)
    quiet.roll(SimConfig())  # a roll with no faults on uses the same draws
    assert quiet.roll(config) == b[1]


def test_config_validation_and_coercion() -> None:
    with pytest.raises(ValueError):
        SimConfig(error_rate=1.5)
    with pytest.raises(ValueError):
        SimConfig(models=[])
    assert coerce("rpm", "0") is None and coerce("rpm", "none") is None
    assert coerce("models", "a, b") == ["a", "b"]
    assert coerce("latency_s", "0.5") == 0.5
    assert SimConfig(api_key="sk-secret").as_dict()["api_key"] == "***"


@pytest.mark.parametrize("switch", [
    {"pack_fault_rate": -0.1}, {"batch_stall_after_fraction": 1.5}, {"stall_headers_s": -1},
    {"retry_after_s": -1}, {"answer_tokens": "none"}, {"error_status": True},
])
def test_every_switch_is_checked_by_its_type_and_name(switch: dict) -> None:
    """Rates and fractions in [0, 1], durations >= 0, None only where the type allows it."""
    with pytest.raises(ValueError, match=next(iter(switch))):
        SimConfig().updated(**switch)


def test_switches_coerce_to_their_declared_types() -> None:
    config = SimConfig().updated(seed="none", retry_after_s="2", error_status="500",
                                 context_tokens="64", bad_body="no_choices")
    assert (config.seed, config.retry_after_s, config.error_status) == (None, 2.0, 500)
    assert (config.context_tokens, config.bad_body) == (64, "no_choices")


def test_multipart_upload_reads_fields_and_files() -> None:
    """Uploads go through FastAPI's UploadFile/Form (python-multipart), byte for byte."""
    payload = b"line1\r\nline2\r\n\x00\xff"
    body = (
        b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
        b"Content-Type: application/jsonl\r\n\r\n" + payload + b"\r\n--XyZ--\r\n"
    )
    with Simulator() as sim:
        url = sim.base_url + "/files"
        made = httpx.post(url, content=body,
                          headers={"content-type": "multipart/form-data; boundary=XyZ"})
        assert made.status_code == 200, made.text
        assert made.json()["filename"] == "in.jsonl" and made.json()["bytes"] == len(payload)
        stored = httpx.get(f"{url}/{made.json()['id']}/content")
        assert stored.content == payload
        not_form = httpx.post(url, json={"purpose": "batch"})
        assert not_form.status_code == 400
        assert set(not_form.json()["error"]) == {"message", "type", "param", "code"}


def test_shapes() -> None:
    assert shapes.sse_event({"a": 1}) == b'data: {"a":1}\n\n'
    assert shapes.SSE_DONE == b"data: [DONE]\n\n"
    err = shapes.model_not_found("x")
    assert err.status_code == 404
    assert set(err.body["error"]) == {"message", "type", "param", "code"}
    encoder = shapes.ChunkEncoder(completion_id="c", model="m", created=1)
    frame = json.loads(encoder.content('quote " and \\ é')[6:])
    assert frame["choices"][0]["delta"] == {"content": 'quote " and \\ é'}
    assert frame["object"] == "chat.completion.chunk"
    usage = shapes.usage_chunk(
        completion_id="c", model="m", created=1, prompt_tokens=2, completion_tokens=3
    )
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 5
