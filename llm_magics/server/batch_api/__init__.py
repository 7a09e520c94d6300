"""The Files and Batch API surface shared by the simulator and the gateway.

``routes`` is the HTTP face, ``backend`` the protocol a server implements for
storage and lifecycle, ``records`` the wire objects and JSONL records, and
``input_file`` the strict validation of an uploaded batch input file.
"""

from __future__ import annotations

from .backend import BatchBackend
from .input_file import BatchLine, line_error, validate_input
from .records import (
    ACTIVE,
    CANCELLED_MESSAGE,
    EXPIRED_MESSAGE,
    FILE_PURPOSES,
    SUPPORTED_ENDPOINTS,
    TERMINAL,
    WINDOW_S,
    FileRecord,
    ServedBatch,
    jsonl,
    new_hex,
    output_record,
    unrun_record,
)
from .routes import build_router, page

__all__ = [
    "ACTIVE",
    "CANCELLED_MESSAGE",
    "EXPIRED_MESSAGE",
    "FILE_PURPOSES",
    "SUPPORTED_ENDPOINTS",
    "TERMINAL",
    "WINDOW_S",
    "BatchBackend",
    "BatchLine",
    "ServedBatch",
    "FileRecord",
    "build_router",
    "jsonl",
    "line_error",
    "new_hex",
    "output_record",
    "page",
    "unrun_record",
    "validate_input",
]
