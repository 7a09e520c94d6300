"""Bad requests get OpenAI's status codes and ``{"error": {...}}`` bodies; keys stay secret."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.batch_api import line, start_batch, upload, wait
from tests.support.gateway import Gateway
from tests.support.sim import Simulator
from tests.support.sim import chat_body as user

ERROR_KEYS = {"message", "type", "param", "code"}


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    return body["error"]


def test_malformed_json_is_a_400(gateway: Gateway, sim: Simulator) -> None:
    response = httpx.post(gateway.base_url + "/chat/completions", content=b"{nope",
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "could not parse the JSON body" in error_of(response)["message"]
    assert sim.stats["requests"] == 0


def test_missing_and_invalid_fields_name_the_param(gateway: Gateway) -> None:
    url = gateway.base_url + "/chat/completions"
    missing = httpx.post(url, json={"messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 400
    assert error_of(missing)["param"] == "model"
    assert error_of(missing)["code"] == "missing_required_parameter"
    empty = httpx.post(url, json={"model": "sim-small", "messages": []})
    assert empty.status_code == 400 and error_of(empty)["code"] == "empty_array"


def test_unknown_model_is_a_404_without_an_upstream_call(client: OpenAI, sim: Simulator) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(**user("x", model="gpt-imaginary"))
    assert info.value.code == "model_not_found"
    assert "gpt-imaginary" in info.value.message
    assert sim.stats["chat_requests"] == 0


def test_a_bug_in_the_chat_route_is_a_bare_500_and_the_gateway_goes_on(
        gateway: Gateway, client: OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = gateway.state.catalog
    real_resolve = catalog.resolve

    async def buggy(model: str) -> str:
        raise RuntimeError("internal detail: /srv/secret/path")

    monkeypatch.setattr(catalog, "resolve", buggy)
    for stream in (False, True):
        response = httpx.post(gateway.base_url + "/chat/completions",
                              json={**user("x"), "stream": stream})
        assert response.status_code == 500
        assert error_of(response)["type"] == "server_error"
        assert "secret" not in response.text
    monkeypatch.setattr(catalog, "resolve", real_resolve)
    assert client.chat.completions.create(**user("after the bug")).choices[0].message.content


def test_unknown_route_is_an_openai_404(gateway: Gateway) -> None:
    response = httpx.get(gateway.base_url + "/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["message"].startswith("Invalid URL")


def test_oversize_file_is_refused_like_openai(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(max_file_mb=0.25)
    big = b"x" * 400_000
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.files.create(file=("big.jsonl", big), purpose="batch")
        assert info.value.body["message"].startswith("File is too large.")  # type: ignore[index]
        small = client.files.create(file=("small.jsonl", b"x" * 200_000), purpose="batch")
        assert small.bytes == 200_000
        assert [f.id for f in client.files.list()] == [small.id]  # nothing kept of the big one


def test_oversize_upload_without_length_is_refused_too(
        make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(max_file_mb=0.25)
    boundary = "b0undary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.jsonl"\r\n\r\n').encode()

    def chunked() -> Iterator[bytes]:  # a generator body: sent chunked, no Content-Length
        yield head
        for _ in range(10):
            yield b"y" * 50_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(gateway.base_url + "/files", content=chunked(),
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("File is too large.")


def test_bad_jsonl_lines_fail_the_batch_with_line_errors(client: OpenAI, sim: Simulator) -> None:
    batch_id = start_batch(client, [
        line("a", user("fine")),
        "{not json",
        line("c", user("wrong url"), url="/v1/embeddings"),
        json.dumps({"custom_id": "d", "method": "GET", "url": "/v1/chat/completions",
                    "body": user("x")}),
        line("a", user("duplicate id")),
    ])
    batch, seen = wait(client, batch_id)
    assert batch.status == "failed" and seen[-1] == "failed"
    assert batch.errors is not None
    codes = [(e.code, e.line) for e in batch.errors.data]
    assert codes == [("invalid_json_line", 2), ("invalid_url", 3), ("invalid_method", 4),
                     ("duplicate_custom_id", 5)]
    assert batch.output_file_id is None and batch.in_progress_at is None
    assert sim.stats["chat_requests"] == 0


def test_bad_lines_in_a_valid_file_land_in_the_error_file(client: OpenAI,
                                                          sim: Simulator) -> None:
    batch_id = start_batch(client, [
        line("ok", user("fine")),
        line("ghost", user("who", model="gpt-imaginary")),
        line("nomsg", {"model": "sim-small"}),
        line("refused", user("STATUS:400 upstream says no")),
    ])
    batch, _ = wait(client, batch_id)
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 3)
    errors = {r["custom_id"]: r for r in _records(client, batch.error_file_id)}
    assert errors["ghost"]["response"]["status_code"] == 404
    assert errors["ghost"]["response"]["body"]["error"]["code"] == "model_not_found"
    assert errors["nomsg"]["response"]["status_code"] == 400
    assert errors["nomsg"]["response"]["body"]["error"]["param"] == "messages"
    assert errors["refused"]["response"]["status_code"] == 400
    assert sim.stats["chat_requests"] == 2  # only "ok" and "refused" went upstream


def _records(client: OpenAI, file_id: str | None) -> list[dict]:
    assert file_id is not None
    return [json.loads(r) for r in client.files.content(file_id).text.splitlines()]


def test_batch_and_file_requests_are_validated(client: OpenAI) -> None:
    file_id = upload(client, [line("a", user("a"))])
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=file_id, endpoint="/v1/embeddings",
                              completion_window="24h")
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions",
                              completion_window="24h")
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("x.jsonl", b"{}"), purpose="nonsense")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_missing")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-missing")


# ---------------------------------------------------------------------- keys


def test_client_keys_are_required(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(client_keys=("k-one", "k-two"))
    url = gateway.base_url + "/chat/completions"
    missing = httpx.post(url, json=user("x"))
    assert missing.status_code == 401
    assert "didn't provide an API key" in error_of(missing)["message"]
    with OpenAI(base_url=gateway.base_url, api_key="k-wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.chat.completions.create(**user("x"))
        assert info.value.code == "invalid_api_key" and "k-wrong" not in info.value.message
        with pytest.raises(openai.AuthenticationError):
            wrong.files.list()
    with OpenAI(base_url=gateway.base_url, api_key="k-two", max_retries=0) as right:
        assert right.chat.completions.create(**user("x")).choices
        assert right.models.list().data
    assert httpx.get(gateway.url + "/healthz").status_code == 200  # probes need no key
    assert httpx.get(gateway.url + "/metrics").status_code == 401
    assert httpx.get(gateway.url + "/metrics",
                     headers={"Authorization": "Bearer k-one"}).status_code == 200


def test_upstream_key_is_used_but_never_shown(make_gateway: Callable[..., Gateway],
                                              sim: Simulator) -> None:
    secret = "sk-upstream-SECRET-0123456789abcdef"
    sim.configure(api_key=secret)
    gateway = make_gateway(upstream_key=secret)
    seen: list[str] = [repr(gateway.config), repr(gateway.upstream)]
    with OpenAI(base_url=gateway.base_url, api_key="client", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(**user("with key"))
        seen += [raw.text if hasattr(raw, "text") else raw.http_response.text,
                 json.dumps(dict(raw.headers))]
        for _ in client.chat.completions.create(**user("streamed"), stream=True):
            pass
        batch, _ = wait(client, start_batch(client, [line("a", user("in a batch"))]))
        assert batch.status == "completed" and batch.request_counts.completed == 1
        seen.append(client.files.content(batch.output_file_id).text)
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(**user("x", model="gpt-imaginary"))
        seen.append(json.dumps(info.value.body))
    for path in ("/metrics", "/healthz", "/v1/models"):
        seen.append(httpx.get(gateway.url + path).text)
    assert sim.stats["chat_ok"] == 3  # the upstream accepted the key
    assert not any(secret in text for text in seen)
    gateway.stop()
    for path in gateway.config.state_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_wrong_upstream_key_is_a_gateway_error_not_the_clients(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    sim.configure(api_key="sk-the-right-one")
    gateway = make_gateway(upstream_key="sk-the-wrong-one-0123456789")
    with OpenAI(base_url=gateway.base_url, api_key="client", max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(**user("x"))
    assert info.value.status_code == 502
    assert info.value.code == "upstream_auth_failed"
    assert "sk-the-wrong-one" not in info.value.message


@pytest.mark.usefixtures("request_path")
def test_an_upstream_refusal_reaches_the_client_with_its_type_param_and_code(
        make_gateway: Callable[..., Gateway], sim: Simulator) -> None:
    """What a client's code branches on (``e.code == "context_length_exceeded"``) is the
    upstream's own, on either request path the gateway's engine takes."""
    sim.configure(context_tokens=5)
    gateway = make_gateway()
    with OpenAI(base_url=gateway.base_url, api_key="k", max_retries=0) as client, \
            pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**user("a prompt much longer than five tokens, surely"))
    assert info.value.code == "context_length_exceeded"
    assert info.value.param == "messages"
    assert info.value.type == "invalid_request_error"
    assert "context" in info.value.message
