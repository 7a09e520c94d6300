"""OpenAI-compatible simulator with fault injection, for tests, benchmarks and demos.

Everything a caller needs is importable from here::

    from llm_magics.server.sim import Simulator, SimulatorProcess, SimConfig, expected_answer

See ``config.SimConfig`` for the switches and ``answers`` for the in-prompt
directives (``ECHO:``, ``STATUS:429``, ``SLEEP:0.5`` ...).
"""

from .answers import compute_answer, estimate_prompt_tokens, expected_answer, parse_directives
from .app import SimApp, create_app
from .cli import main
from .config import DEFAULT_MODELS, SimConfig
from .runner import Simulator, SimulatorProcess

__all__ = [
    "DEFAULT_MODELS",
    "SimApp",
    "SimConfig",
    "Simulator",
    "SimulatorProcess",
    "compute_answer",
    "create_app",
    "estimate_prompt_tokens",
    "expected_answer",
    "main",
    "parse_directives",
]
