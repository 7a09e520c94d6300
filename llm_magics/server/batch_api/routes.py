"""HTTP face of the Batch API, ``/v1/files`` and ``/v1/batches``, over any :class:`BatchBackend`.

Request validation mirrors OpenAI's (400 for a wrong endpoint, window or file
purpose, or an oversize file; 404 for unknown ids) so client code sees the
errors it will meet in production, and lists page with ``after``/``limit``
like the real cursors. Uploads are parsed by FastAPI's ``UploadFile``/``Form``
(python-multipart), which spools large files to disk instead of memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import Response

from ..chat_request import read_json
from ..openai_shapes import ErrorReply, bad_request, dumps
from ..upload_limit import TOO_LARGE_KEY, file_too_large
from .backend import BatchBackend
from .records import FILE_PURPOSES, SUPPORTED_ENDPOINTS, WINDOW_S, FileRecord, ServedBatch

__all__ = ["build_router", "page"]


def page(items: list[dict[str, Any]], request: Request, default_limit: int) -> dict[str, Any]:
    """OpenAI cursor pagination: newest first, ``after`` an id, ``limit`` a count."""
    params = request.query_params
    try:
        limit = int(params.get("limit", default_limit))
    except ValueError:
        raise bad_request("Invalid 'limit': expected an integer.", param="limit") from None
    if params.get("order") == "asc":
        items = list(reversed(items))
    after = params.get("after")
    if after:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    chosen = items[:limit]
    return {
        "object": "list",
        "data": chosen,
        "first_id": chosen[0]["id"] if chosen else None,
        "last_id": chosen[-1]["id"] if chosen else None,
        "has_more": len(items) > len(chosen),
    }


def _json(obj: Any, status_code: int = 200) -> Response:
    return Response(dumps(obj), status_code=status_code, media_type="application/json")


def _listing(records: Sequence[FileRecord | ServedBatch], request: Request,
             default_limit: int) -> Response:
    """One page of stored files or batches, as the list endpoints answer."""
    return _json(page([r.to_obj() for r in records], request, default_limit=default_limit))


def _required(body: dict[str, Any], name: str) -> Any:
    if not body.get(name):
        raise bad_request(f"Missing required parameter: '{name}'.", param=name,
                          code="missing_required_parameter")
    return body[name]


METADATA_PAIRS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512


def _metadata(value: Any) -> dict[str, str] | None:
    """``metadata`` as OpenAI bounds it (16 string pairs, keys 64 chars, values 512), or a 400:
    a batch record outlives its batch, so its size must not be the client's choice."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request("Invalid type for 'metadata': expected an object of string values.",
                          param="metadata", code="invalid_type")
    if len(value) > METADATA_PAIRS:
        raise bad_request(
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{METADATA_PAIRS} properties, but got {len(value)}.", param="metadata",
            code="object_above_max_properties")
    for key, text in value.items():
        if len(key) > METADATA_KEY_CHARS or len(text) > METADATA_VALUE_CHARS:
            raise bad_request(
                f"Invalid 'metadata': keys may have at most {METADATA_KEY_CHARS} characters "
                f"and values {METADATA_VALUE_CHARS}.", param="metadata",
                code="string_above_max_length")
    return value


def build_router(backend_of: Callable[[Request], BatchBackend]) -> APIRouter:
    """The Files and Batches routes, each asking ``backend_of(request)`` for its storage."""
    router = APIRouter()
    _add_file_routes(router, backend_of)
    _add_batch_routes(router, backend_of)
    return router


def _add_file_routes(router: APIRouter, backend_of: Callable[[Request], BatchBackend]) -> None:
    @router.post("/v1/files")
    async def upload_file(
        request: Request,
        file: Annotated[UploadFile, File()],
        purpose: Annotated[str, Form()],
    ) -> Response:
        backend = backend_of(request)
        limit = backend.max_file_bytes
        if request.scope.get(TOO_LARGE_KEY) or (
            limit is not None and file.size is not None and file.size > limit
        ):
            raise file_too_large(limit or request.scope[TOO_LARGE_KEY])
        if purpose not in FILE_PURPOSES:
            raise bad_request(f"Invalid value for 'purpose': {purpose!r}.", param="purpose")
        await file.seek(0)
        stored = await backend.add_file(file.filename or "upload.jsonl", purpose, file.file)
        return _json(stored.to_obj())

    @router.get("/v1/files")
    async def list_files(request: Request) -> Response:
        purpose = request.query_params.get("purpose")
        files = [f for f in backend_of(request).files() if purpose in (None, f.purpose)]
        return _listing(files, request, default_limit=10_000)

    @router.get("/v1/files/{file_id}")
    async def retrieve_file(file_id: str, request: Request) -> Response:
        return _json(backend_of(request).get_file(file_id).to_obj())

    @router.get("/v1/files/{file_id}/content")
    async def file_content(file_id: str, request: Request) -> Response:
        return await backend_of(request).file_content(file_id)

    @router.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str, request: Request) -> Response:
        backend_of(request).delete_file(file_id)
        return _json({"id": file_id, "object": "file", "deleted": True})


def _add_batch_routes(router: APIRouter, backend_of: Callable[[Request], BatchBackend]) -> None:
    @router.post("/v1/batches")
    async def create_batch(request: Request) -> Response:
        backend = backend_of(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        input_file_id = _required(body, "input_file_id")
        endpoint = _required(body, "endpoint")
        window = _required(body, "completion_window")
        if endpoint not in SUPPORTED_ENDPOINTS:
            raise bad_request(
                f"Invalid value for 'endpoint': {endpoint!r}. This server supports "
                f"{', '.join(SUPPORTED_ENDPOINTS)}.", param="endpoint", code="invalid_value")
        if window not in WINDOW_S:
            raise bad_request("Invalid value for 'completion_window': only '24h' is supported.",
                              param="completion_window", code="invalid_value")
        try:
            input_file = backend.get_file(str(input_file_id))
        except ErrorReply:
            raise bad_request(f"Invalid 'input_file_id': no file {input_file_id!r}.",
                              param="input_file_id", code="invalid_value") from None
        if input_file.purpose != "batch":
            raise bad_request("The input file must be uploaded with purpose 'batch'.",
                              param="input_file_id", code="invalid_value")
        metadata = _metadata(body.get("metadata"))
        batch = backend.create_batch(input_file, endpoint, window, metadata)
        return _json(batch.to_obj())

    @router.get("/v1/batches")
    async def list_batches(request: Request) -> Response:
        return _listing(backend_of(request).batches(), request, default_limit=20)

    @router.get("/v1/batches/{batch_id}")
    async def retrieve_batch(batch_id: str, request: Request) -> Response:
        return _json(backend_of(request).get_batch(batch_id).to_obj())

    @router.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(batch_id: str, request: Request) -> Response:
        return _json(backend_of(request).cancel_batch(batch_id).to_obj())
