"""Every error a FastAPI app of ours can produce, rendered in OpenAI's ``{"error": {...}}`` shape.

The official SDK reads ``error.message``/``code``/``param`` from the body; a
FastAPI default (``{"detail": ...}``) would reach the user as an opaque
string, so 404 routes, validation failures and body-limit rejections are
all rewritten here, once, for the simulator and the gateway.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .openai_shapes import ErrorReply, bad_request, error_response
from .upload_limit import REFUSAL_KEY, TOO_LARGE_KEY, file_too_large

__all__ = ["install_error_handlers", "validation_error"]


def validation_error(errors: list[Any]) -> ErrorReply:
    """A FastAPI validation failure as OpenAI words it (missing parameter, or invalid value)."""
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
    param = ".".join(loc) or None
    if first.get("type") == "missing" and param:
        return bad_request(f"Missing required parameter: '{param}'.", param=param,
                           code="missing_required_parameter")
    if param:
        return bad_request(f"Invalid value for '{param}': {first.get('msg')}.", param=param,
                           code="invalid_value")
    return bad_request(f"Invalid request: {first.get('msg', 'could not be parsed')}.")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an OpenAI-shaped body."""

    @app.exception_handler(ErrorReply)
    async def _openai_error(_: Request, exc: ErrorReply) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if request.scope.get(REFUSAL_KEY):
            return error_response(request.scope[REFUSAL_KEY])
        if request.scope.get(TOO_LARGE_KEY):
            return error_response(file_too_large(request.scope[TOO_LARGE_KEY]))
        return error_response(validation_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.scope.get(REFUSAL_KEY):
            return error_response(request.scope[REFUSAL_KEY])
        if request.scope.get(TOO_LARGE_KEY):  # the upload was cut short: say why
            return error_response(file_too_large(request.scope[TOO_LARGE_KEY]))
        if exc.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif exc.status_code == 405:
            message = f"Method not allowed ({request.method} {request.url.path})"
        else:
            message = str(exc.detail)
        return error_response(ErrorReply(exc.status_code, message))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        # A bug must not hand the client a traceback or an internal detail (a URL, a path).
        return error_response(ErrorReply(
            500, "The server had an error while processing your request.", type="server_error"))
