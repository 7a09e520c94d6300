"""The FastAPI app both servers start from: OpenAI's routes and error shape, no docs pages.

The simulator and the gateway differ in the outer layer (what they count,
whom they admit) and in their state; what the SDK sees of them is built here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request

from .batch_api import BatchBackend, build_router
from .error_handlers import install_error_handlers

__all__ = ["openai_app"]

AppT = TypeVar("AppT", bound=FastAPI)


def openai_app(app_class: type[AppT], title: str, lifespan: Any, chat: APIRouter,
               batches: Callable[[Request], BatchBackend]) -> AppT:
    """An ``app_class`` with the chat routes, the Files and Batch API over ``batches(request)``,
    and every error answered in OpenAI's shape."""
    app = app_class(title=title, docs_url=None, redoc_url=None, openapi_url=None,
                    lifespan=lifespan)
    app.include_router(chat)
    app.include_router(build_router(batches))
    install_error_handlers(app)
    return app
