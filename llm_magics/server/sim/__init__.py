"""OpenAI-compatible simulator with fault injection, for tests, benchmarks and demos.

``llm-magics sim --port 0`` runs it (see ``cli``); ``create_app`` gives the
ASGI app to serve some other way. Everything a caller needs is importable
from here::

    from llm_magics.server.sim import SimConfig, create_app, expected_answer

See ``config.SimConfig`` for the switches and ``answers`` for the in-prompt
directives (``ECHO:``, ``STATUS:429``, ``SLEEP:0.5`` ...).
"""

from .answers import compute_answer, estimate_prompt_tokens, expected_answer, parse_directives
from .app import SimApp, create_app
from .cli import main
from .config import DEFAULT_MODELS, SimConfig

__all__ = [
    "DEFAULT_MODELS",
    "SimApp",
    "SimConfig",
    "compute_answer",
    "create_app",
    "estimate_prompt_tokens",
    "expected_answer",
    "main",
    "parse_directives",
]
