"""``/v1/models`` and ``/v1/chat/completions``: the deterministic answer plus injected faults.

The order of checks mirrors OpenAI so a client sees the same thing it would in
production: body validation (400), model lookup (404), rate limits (429),
then server-side trouble (5xx, hangs, drops, malformed chunks, truncated
streams, 200s that are no answer). A stall (``stall_headers_s``) holds even
the status line; ``retry_after_s`` rewrites every 429's wait. Forced
statuses (``STATUS:`` directive) come before the limiter so they never spend
budget, like a real 4xx.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..chat_request import read_json
from ..chat_request import validate_chat as validate_body
from ..event_stream import EventStream
from ..openai_shapes import (
    SSE_DONE,
    ChatCompletionRequest,
    ChunkEncoder,
    ErrorReply,
    chat_completion,
    dumps,
    error_for_status,
    model_not_found,
    new_id,
    rate_limited,
    server_error,
    sse_event,
    usage_chunk,
)
from .answers import (
    Answer,
    Directives,
    compute_answer,
    estimate_prompt_tokens,
    last_user_text,
    parse_directives,
)
from .config import SimConfig
from .connection import client_gone, drop_connection
from .faults import FaultPlan
from .state import SimState

router = APIRouter()

MODEL_CREATED = 1_700_000_000
MALFORMED_FRAME = b'data: {"id": "chatcmpl-broken", "choices": [{"delta": \n\n'
BAD_BODY_HTML = b"<html><body><h1>Sign in to continue</h1></body></html>"
HOLD_POLL_S = 0.05
DROPPED_KEY = "llm_magics.sim.dropped"


def sim_state(request: Request) -> SimState:
    return request.app.state.sim


def _model_object(model_id: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": MODEL_CREATED,
        "owned_by": "llm-magics-sim",
    }


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    models = sim_state(request).config.models
    return Response(
        dumps({"object": "list", "data": [_model_object(m) for m in models]}),
        media_type="application/json",
    )


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> Response:
    if model_id not in sim_state(request).config.models:
        raise model_not_found(model_id)
    return Response(dumps(_model_object(model_id)), media_type="application/json")


def validate_chat(body: Any, config: SimConfig) -> ChatCompletionRequest:
    """Parse a chat body the way OpenAI rejects it: 400 with ``param``, 404 for the model."""
    return validate_body(body, config.models.__contains__)


def plan_answers(
    body: Mapping[str, Any], req: ChatCompletionRequest, config: SimConfig, directives: Directives
) -> list[Answer]:
    return [compute_answer(body, config, i, directives) for i in range(req.n or 1)]


def complete_once(body: Any, config: SimConfig) -> tuple[int, dict[str, Any]]:
    """One non-streamed completion without faults or limits, as a batch line is answered."""
    try:
        req = validate_chat(body, config)
        directives = parse_directives(last_user_text(req.messages))
        if directives.status is not None:
            raise error_for_status(directives.status, "Status forced by the STATUS: directive.")
    except ErrorReply as err:
        return err.status_code, err.body
    answers = plan_answers(body, req, config, directives)
    return 200, chat_completion(
        completion_id=new_id("chatcmpl"),
        model=req.model,
        contents=[(a.text, a.finish_reason) for a in answers],
        prompt_tokens=estimate_prompt_tokens(req.messages),
        completion_tokens=sum(len(a.pieces) for a in answers),
    )


async def _hold(request: Request, state: SimState, seconds: float) -> bool:
    """Send nothing for ``seconds`` (or until shutdown); False if the client left meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not state.closing:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(min(HOLD_POLL_S, max(0.0, deadline - time.monotonic())))
    return True


async def _hang(request: Request, state: SimState) -> None:
    """Hold the request unanswered until the client leaves, shutdown, or ``hang_max_s``."""
    state.stats.hangs += 1
    if await _hold(request, state, state.config.hang_max_s):
        raise server_error(504, "The simulated hang reached hang_max_s; giving up.")


def _with_retry_after(err: ErrorReply, config: SimConfig) -> ErrorReply:
    """``retry_after_s`` replaces the real wait on every 429, to test a client's cap."""
    if err.status_code == 429 and config.retry_after_s is not None:
        err.headers["retry-after"] = f"{config.retry_after_s:g}"
        err.headers["retry-after-ms"] = str(round(config.retry_after_s * 1000))
    return err


def _bad_body(req: ChatCompletionRequest, config: SimConfig, completion_id: str,
              headers: Mapping[str, str]) -> Response:
    """A 200 that is no answer: a proxy's HTML page, or JSON / SSE without choices."""
    if config.bad_body == "html":
        return Response(BAD_BODY_HTML, media_type="text/html", headers=headers)
    if req.stream:
        frame = usage_chunk(completion_id=completion_id, model=req.model,
                            created=int(time.time()), prompt_tokens=0, completion_tokens=0)
        return Response(sse_event(frame) + SSE_DONE, media_type="text/event-stream",
                        headers=headers)
    empty = {"id": completion_id, "object": "chat.completion", "created": int(time.time()),
             "model": req.model, "choices": []}
    return Response(dumps(empty), media_type="application/json", headers=headers)


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    state = sim_state(request)
    state.stats.chat_requests += 1
    body = await read_json(request)  # first: a disconnect check would swallow the body
    stall = state.config.stall_headers_s
    if stall:
        state.stats.enter()  # a held request is in flight as far as the client can tell
        try:
            if not await _hold(request, state, stall):
                return Response(status_code=499)  # client gone; nothing reaches it
        finally:
            state.stats.leave()
    try:
        return await _answer(request, state, body)
    except ErrorReply as err:
        raise _with_retry_after(err, state.config) from None


async def _answer(request: Request, state: SimState, body: Any) -> Response:
    config = state.config
    stats = state.stats
    req = validate_chat(body, config)
    if req.stream:
        stats.chat_streams += 1
    directives = parse_directives(last_user_text(req.messages))
    if directives.status is not None:
        raise error_for_status(directives.status, "Status forced by the STATUS: directive.")

    n = req.n or 1
    prompt_tokens = estimate_prompt_tokens(req.messages)
    budget = req.token_limit or directives.tokens or config.answer_tokens
    decision = state.limiter.check(req.model, prompt_tokens + budget * n)
    if not decision.allowed:
        raise rate_limited(decision.message, kind=decision.kind, headers=decision.headers)

    plan = state.dice.roll(config)
    if plan.error_status is not None:
        err = error_for_status(plan.error_status)
        err.headers.update(decision.headers)
        raise err

    stats.accept(req.model)
    answers = plan_answers(body, req, config, directives)
    completion_tokens = sum(len(a.pieces) for a in answers)
    stats.prompt_tokens += prompt_tokens
    stats.completion_tokens += completion_tokens
    headers = {**decision.headers, "x-request-id": f"req_{uuid.uuid4().hex}"}
    completion_id = new_id("chatcmpl")

    stats.enter()
    handed_off = False  # a stream leaves in its own on_close, when it really ends
    try:
        if plan.hang or directives.hang:
            await _hang(request, state)
            return Response(status_code=499)  # client gone; nothing reaches it
        if plan.bad_body:
            return _bad_body(req, config, completion_id, headers)
        if req.stream:
            stream = _stream(
                request, state, req, answers, plan, directives,
                completion_id=completion_id, prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
            handed_off = True
            return EventStream(stream, stats.leave, headers)

        delay = config.latency_s + directives.sleep_s + config.token_latency_s * completion_tokens
        if delay:
            await asyncio.sleep(delay)
        if plan.drop_before_first_token or directives.drop_after is not None:
            return await _drop(request, state)
        return Response(
            dumps(
                chat_completion(
                    completion_id=completion_id,
                    model=req.model,
                    contents=[(a.text, a.finish_reason) for a in answers],
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
            ),
            media_type="application/json",
            headers=headers,
        )
    finally:
        if not handed_off:
            stats.leave()


async def _drop(request: Request, state: SimState) -> Response:
    state.stats.drops += 1
    request.scope[DROPPED_KEY] = True
    await drop_connection(request.scope)
    return Response(status_code=499)


async def _stream(
    request: Request,
    state: SimState,
    req: ChatCompletionRequest,
    answers: list[Answer],
    plan: FaultPlan,
    directives: Directives,
    *,
    completion_id: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> AsyncIterator[bytes]:
    """SSE frames: role opener, one frame per token, finish frame, optional usage, [DONE]."""
    config = state.config
    delay = config.latency_s + directives.sleep_s
    if delay:
        await asyncio.sleep(delay)
    if plan.drop_before_first_token:
        await _drop(request, state)
        return
    token_delay = config.token_latency_s
    created = int(time.time())
    for index, answer in enumerate(answers):
        pieces = answer.pieces
        drop_at = malformed_at = truncate_at = None
        if index == 0:
            drop_at = directives.drop_after
            if drop_at is None and plan.drop:
                drop_at = max(1, int(len(pieces) * plan.position))
            if plan.truncate:
                truncate_at = max(1, int(len(pieces) * plan.position))
            malformed_at = directives.malformed_after
            if malformed_at is None and plan.malformed:
                malformed_at = int(len(pieces) * plan.position)
        encoder = ChunkEncoder(
            completion_id=completion_id, model=req.model, created=created, index=index
        )
        yield encoder.chunk({"role": "assistant", "content": "", "refusal": None})
        for position in range(len(pieces) + 1):
            if position == malformed_at or (
                position == len(pieces) and malformed_at is not None and malformed_at > position
            ):
                state.stats.malformed += 1
                yield MALFORMED_FRAME
            if position == drop_at or (
                position == len(pieces) and drop_at is not None and drop_at > position
            ):
                await _drop(request, state)
                return
            if position == truncate_at:
                return  # a clean end of the body, but no finish_reason and no [DONE]
            if position == len(pieces):
                break
            if token_delay:
                await asyncio.sleep(token_delay)
            if client_gone(request.scope):
                return
            yield encoder.content(pieces[position])
        yield encoder.chunk({}, answer.finish_reason)
    if req.include_usage:
        yield sse_event(
            usage_chunk(
                completion_id=completion_id,
                model=req.model,
                created=created,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
        )
    yield SSE_DONE

