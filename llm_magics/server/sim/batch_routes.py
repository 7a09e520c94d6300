"""HTTP face of the Batch API: ``/v1/files`` and ``/v1/batches`` (lifecycle in :mod:`.batch`).

Request validation mirrors OpenAI's (400 for a wrong endpoint, window or file
purpose; 404 for unknown ids) so client code sees the errors it will meet in
production, and lists page with ``after``/``limit`` like the real cursors.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..openai_shapes import bad_request, dumps
from .batch import FILE_PURPOSES, SUPPORTED_ENDPOINTS, WINDOW_S
from .chat import read_json, sim_state
from .multipart import parse_form

router = APIRouter()



def _page(items: list[dict[str, Any]], request: Request, default_limit: int) -> dict[str, Any]:
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
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > len(page),
    }


def _json(obj: Any, status_code: int = 200) -> Response:
    return Response(dumps(obj), status_code=status_code, media_type="application/json")


@router.post("/v1/files")
async def upload_file(request: Request) -> Response:
    store = sim_state(request).batches
    try:
        form = parse_form(await request.body(), request.headers.get("content-type", ""))
    except ValueError as exc:
        raise bad_request(f"Invalid multipart upload: {exc}.") from None
    file_part = form.get("file")
    if file_part is None:
        raise bad_request("Missing required parameter: 'file'.", param="file",
                          code="missing_required_parameter")
    purpose_part = form.get("purpose")
    purpose = purpose_part.data.decode() if purpose_part else ""
    if purpose not in FILE_PURPOSES:
        raise bad_request(f"Invalid value for 'purpose': {purpose!r}.", param="purpose")
    stored = store.add_file(file_part.filename or "upload.jsonl", purpose, file_part.data)
    sim_state(request).stats.files_uploaded += 1
    return _json(stored.to_obj())


@router.get("/v1/files")
async def list_files(request: Request) -> Response:
    store = sim_state(request).batches
    purpose = request.query_params.get("purpose")
    items = [
        f.to_obj() for f in reversed(store.files.values()) if purpose in (None, f.purpose)
    ]
    return _json(_page(items, request, default_limit=10_000))


@router.get("/v1/files/{file_id}")
async def retrieve_file(file_id: str, request: Request) -> Response:
    return _json(sim_state(request).batches.get_file(file_id).to_obj())


@router.get("/v1/files/{file_id}/content")
async def file_content(file_id: str, request: Request) -> Response:
    stored = sim_state(request).batches.get_file(file_id)
    return Response(stored.content, media_type="application/octet-stream")


@router.delete("/v1/files/{file_id}")
async def delete_file(file_id: str, request: Request) -> Response:
    store = sim_state(request).batches
    store.get_file(file_id)
    del store.files[file_id]
    return _json({"id": file_id, "object": "file", "deleted": True})


@router.post("/v1/batches")
async def create_batch(request: Request) -> Response:
    store = sim_state(request).batches
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not body.get(name):
            raise bad_request(f"Missing required parameter: '{name}'.", param=name,
                              code="missing_required_parameter")
    endpoint = body["endpoint"]
    if endpoint not in SUPPORTED_ENDPOINTS:
        raise bad_request(
            f"Invalid value for 'endpoint': {endpoint!r}. The simulator supports "
            f"{', '.join(SUPPORTED_ENDPOINTS)}.", param="endpoint", code="invalid_value")
    window = body["completion_window"]
    if window not in WINDOW_S:
        raise bad_request("Invalid value for 'completion_window': only '24h' is supported.",
                          param="completion_window", code="invalid_value")
    input_file = store.files.get(body["input_file_id"])
    if input_file is None:
        raise bad_request(f"Invalid 'input_file_id': no file {body['input_file_id']!r}.",
                          param="input_file_id", code="invalid_value")
    if input_file.purpose != "batch":
        raise bad_request("The input file must be uploaded with purpose 'batch'.",
                          param="input_file_id", code="invalid_value")
    metadata = body.get("metadata")
    batch = store.create_batch(input_file.id, endpoint, window,
                               metadata if isinstance(metadata, dict) else None)
    return _json(batch.to_obj())


@router.get("/v1/batches")
async def list_batches(request: Request) -> Response:
    store = sim_state(request).batches
    items = [b.to_obj() for b in reversed(store.batches.values())]
    return _json(_page(items, request, default_limit=20))


@router.get("/v1/batches/{batch_id}")
async def retrieve_batch(batch_id: str, request: Request) -> Response:
    return _json(sim_state(request).batches.get_batch(batch_id).to_obj())


@router.post("/v1/batches/{batch_id}/cancel")
async def cancel_batch(batch_id: str, request: Request) -> Response:
    store = sim_state(request).batches
    batch = store.get_batch(batch_id)
    store.cancel(batch)
    return _json(batch.to_obj())
