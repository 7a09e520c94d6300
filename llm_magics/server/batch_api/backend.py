"""What a server must provide for the shared ``/v1/files`` and ``/v1/batches`` routes.

The routes own the HTTP face (validation, pagination, error shapes); a
backend owns storage and the lifecycle. The simulator's backend is in memory
with a compressed clock, the gateway's is SQLite with real upstream calls.
"""

from __future__ import annotations

from typing import IO, Any, Protocol

from starlette.responses import Response

from .records import FileRecord, ServedBatch

__all__ = ["BatchBackend"]


class BatchBackend(Protocol):
    max_file_bytes: int | None
    """Largest accepted upload (``None``: no limit)."""

    async def add_file(self, filename: str, purpose: str, data: IO[bytes]) -> FileRecord:
        """Store an uploaded file read from ``data`` (a file object at position 0)."""

    def files(self) -> list[FileRecord]:
        """Every file, newest first."""

    def get_file(self, file_id: str) -> FileRecord:
        """The file, or raise OpenAI's 404."""

    async def file_content(self, file_id: str) -> Response:
        """The file's bytes as a response (or raise OpenAI's 404)."""

    def delete_file(self, file_id: str) -> None:
        """Forget the file, or raise OpenAI's 404."""

    def create_batch(self, input_file: FileRecord, endpoint: str, window: str,
                     metadata: dict[str, Any] | None) -> ServedBatch:
        """Record a new batch (``validating``) and start running it in the background."""

    def batches(self) -> list[ServedBatch]:
        """Every batch, newest first."""

    def get_batch(self, batch_id: str) -> ServedBatch:
        """The batch, or raise OpenAI's 404."""

    def cancel_batch(self, batch_id: str) -> ServedBatch:
        """Ask a batch to stop (``cancelling``); 409 if it already ended."""
