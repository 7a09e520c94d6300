"""A small incremental server-sent events decoder, fed whatever bytes the transport hands over.

The SDK's stream classes hide how far a broken stream got; reading the frames
ourselves means every complete event received before a connection breaks is
handed out, and an answer that stopped early is told apart from one that
finished (``[DONE]``). It follows the WHATWG event-stream rules: lines end in
CRLF, LF or CR; ``data`` lines of one event are joined with newlines; ``:``
starts a comment; a blank line ends an event. An event still open when the
body ends is handed out by ``end()`` (some servers close right after their last
``data:`` line, without the blank line); the caller judges whether it is whole.

    >>> decoder = SSEDecoder()
    >>> [e.data for e in decoder.feed(b'data: {"a": 1}\\n\\ndata: [DO')]
    ['{"a": 1}']
    >>> [e.data for e in decoder.feed(b'NE]\\n\\n')]
    ['[DONE]']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEDecoder", "DONE"]

DONE = "[DONE]"
"""The data of the event OpenAI-compatible servers send after the last chunk."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed bytes in any slices; complete events come out in order."""

    def __init__(self) -> None:
        self._pending = b""  # bytes of a line whose end has not arrived yet
        self._last_was_cr = False  # a CR ended the last slice: a leading LF belongs to it
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._started = False  # a UTF-8 byte order mark is dropped once, at the very start

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._last_was_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._last_was_cr = False
        if not chunk:
            return []
        buffer = self._pending + chunk
        if not self._started:
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(buffer):
                self._pending = buffer
                return []
            self._started = True
            if buffer.startswith(b"\xef\xbb\xbf"):
                buffer = buffer[3:]
        lines = buffer.splitlines(keepends=True)
        events: list[SSEEvent] = []
        self._pending = b""
        for line in lines:
            if not line.endswith((b"\n", b"\r")):
                self._pending = line  # only the last piece can lack its end
                break
            self._last_was_cr = line.endswith(b"\r")
            event = self._line(line.rstrip(b"\r\n").decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        if self._pending:
            self._last_was_cr = False
        return events

    def end(self) -> list[SSEEvent]:
        """The event left open when the body ended cleanly, if any (``[]`` otherwise)."""
        line, self._pending, self._last_was_cr = self._pending, b"", False
        event = self._line(line.decode("utf-8", errors="replace")) if line else None
        last = self._dispatch()
        return [e for e in (event, last) if e is not None]

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # ``retry`` and unknown fields change nothing a client of ours needs

    def _dispatch(self) -> SSEEvent | None:
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:
            return None
        return SSEEvent("\n".join(data), event, self._id)

