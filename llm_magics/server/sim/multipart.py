"""A minimal ``multipart/form-data`` reader for ``POST /v1/files``.

Starlette's form parser needs the optional ``python-multipart`` package; the
SDK's upload is one small form (``purpose`` + ``file``), so a few lines of
stdlib parsing avoid an extra dependency for the simulator extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message


@dataclass
class FormPart:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def _params(header_value: str, header_name: str) -> Message:
    msg = Message()
    msg[header_name] = header_value
    return msg


def boundary_of(content_type: str) -> str | None:
    msg = _params(content_type, "content-type")
    if msg.get_content_type() != "multipart/form-data":
        return None
    boundary = msg.get_param("boundary", header="content-type")
    return boundary if isinstance(boundary, str) else None


def parse_form(body: bytes, content_type: str) -> dict[str, FormPart]:
    """Parts by field name; raises ``ValueError`` for a body that is not multipart."""
    boundary = boundary_of(content_type)
    if not boundary:
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    parts: dict[str, FormPart] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _params(headers.get("content-disposition", ""), "content-disposition")
        name = disposition.get_param("name", header="content-disposition")
        filename = disposition.get_param("filename", header="content-disposition")
        if not isinstance(name, str):
            continue
        parts[name] = FormPart(
            name=name,
            data=data,
            filename=filename if isinstance(filename, str) else None,
            content_type=headers.get("content-type"),
        )
    return parts
