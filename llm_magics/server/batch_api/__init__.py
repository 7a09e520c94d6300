"""The Files and Batch API surface shared by the simulator and the gateway.

``routes`` is the HTTP face, ``backend`` the protocol a server implements for
storage and lifecycle, ``records`` the wire objects and JSONL records, and
``input_file`` the strict validation of an uploaded batch input file.
"""

from __future__ import annotations

from . import records
from .backend import BatchBackend
from .input_file import BatchLine, line_error, validate_input
from .records import *  # noqa: F403 - the wire objects, named once in records.__all__
from .routes import build_router, page

__all__ = [
    *records.__all__,
    "BatchBackend",
    "BatchLine",
    "build_router",
    "line_error",
    "page",
    "validate_input",
]
