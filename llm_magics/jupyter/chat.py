"""The conversation that ``--chat`` cells share, so a follow-up cell can say "shorter".

A chat is plain data (role/content dicts in OpenAI's shape) owned by the
magics of one shell. An exchange is recorded only when its answer is known,
so a failed or stopped call never leaves a question without its answer.

    >>> chat = ChatSession()
    >>> chat.record("Name a colour", "Red.")
    >>> [m["role"] for m in chat.messages_for("Another", system="Be terse.")]
    ['system', 'user', 'assistant', 'user']
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatSession"]


@dataclass
class ChatSession:
    system: str | None = None
    """Sticky system prompt: set by the last ``--chat -s ...`` cell."""
    history: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.history) // 2

    def messages_for(self, prompt: str, system: str | None = None) -> list[dict[str, Any]]:
        """What to send for a new question: system, the exchanges so far, the question."""
        system = system if system is not None else self.system
        head = [{"role": "system", "content": system}] if system else []
        return [*head, *self.history, {"role": "user", "content": prompt}]

    def record(self, prompt: str, answer: str) -> None:
        self.history += [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ]

    def reset(self) -> None:
        self.system = None
        self.history.clear()

    def transcript(self) -> str:
        """The conversation as plain text (``%llm_chat show`` in a terminal)."""
        if not self.history and not self.system:
            return "(the chat is empty: run a %%llm --chat cell to start one)"
        lines = [f"[system] {self.system}"] if self.system else []
        lines += [f"[{m['role']}] {m['content']}" for m in self.history]
        return "\n\n".join(lines)

    def to_html(self) -> str:
        """The conversation as HTML; answers are rendered as sanitised markdown."""
        from .render import markdown_to_html

        if not self.history and not self.system:
            return f"<em>{html.escape(self.transcript())}</em>"
        parts = [f"<p><b>system</b>: {html.escape(self.system)}</p>"] if self.system else []
        for m in self.history:
            body = (markdown_to_html(m["content"]) if m["role"] == "assistant"
                    else f"<p>{html.escape(m['content'])}</p>")
            parts.append(f"<div><b>{m['role']}</b>{body}</div>")
        return "<hr>".join(parts)
