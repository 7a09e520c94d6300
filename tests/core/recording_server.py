"""A tiny OpenAI-shaped HTTP server (stdlib only) that records every request it gets.

Not our simulator on purpose: a second, independent server shape, so what the
tests check (the JSON body on the wire, a key echoed back in an error) is not
tuned to our own server's quirks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], bytes]
Responder = Callable[[dict[str, Any], dict[str, str]], Reply]  # (body, lower-cased headers)

ANSWER = "recorded answer"


def chat_reply(body: dict[str, Any], headers: dict[str, str]) -> Reply:
    """A finished answer: JSON, or SSE ending with a finish_reason and [DONE]."""
    base = {"id": "chatcmpl-rec", "created": 0, "model": body.get("model", "m")}
    if not body.get("stream"):
        payload = {**base, "object": "chat.completion", "choices": [{
            "index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": ANSWER}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()
    chunks = [{"index": 0, "delta": {"role": "assistant", "content": word}, "finish_reason": None}
              for word in ("recorded ", "answer")]
    chunks.append({"index": 0, "delta": {}, "finish_reason": "stop"})
    events = b"".join(
        b"data: " + json.dumps({**base, "object": "chat.completion.chunk",
                                "choices": [c]}).encode() + b"\n\n" for c in chunks)
    return 200, {"Content-Type": "text/event-stream"}, events + b"data: [DONE]\n\n"


class RecordingServer:
    """``with RecordingServer() as server:`` then point ``base_url`` at ``server.base_url``."""

    def __init__(self, respond: Responder = chat_reply) -> None:
        self.respond = respond
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # lower-cased names, one dict per request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                outer.bodies.append(body)
                lowered = {k.lower(): v for k, v in self.headers.items()}
                outer.headers.append(lowered)
                status, headers, content = outer.respond(body, lowered)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(content))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        # A short poll, so leaving the ``with`` block does not wait half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
