"""Reference pages generated from the code, so the docs cannot drift from it.

Used as a mkdocs hook (``hooks: [tools/docgen.py]`` in ``mkdocs.yml``): at
build time :func:`on_files` adds these pages, which exist only in the built site:

- ``reference/configuration.md``: every ``Settings`` field with its type,
  default, environment variable and description, plus the ``LLMMagics`` IPython
  config traits and the other ``LLM_MAGICS_*`` environment variables.
- ``reference/magics.md``: the text each magic prints for ``--help``, captured
  from a real IPython ``InteractiveShell`` with ``%load_ext llm_magics``.
- ``reference/accessor.md`` and ``reference/python-api.md``: signatures and
  docstrings of ``df.llm`` and of the library functions.

Each ``*_page()`` function returns Markdown, so a test can check a page
without building the site. Nothing here is imported by the library itself.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["PAGES", "configuration_page", "magics_page", "accessor_page", "python_api_page",
           "on_files", "env_name"]

_GENERATED_NOTE = (
    "!!! note \"Generated page\"\n    This page is generated from the code at docs build "
    "time (`tools/docgen.py`); edit the code, not this page.\n"
)


# -- helpers ---------------------------------------------------------------------------------
def env_name(field: str) -> str:
    """``rpm`` -> ``LLM_MAGICS_RPM``: the environment variable a setting reads."""
    from llm_magics.core.settings import ENV_PREFIX

    return ENV_PREFIX + field.upper()


def _rst_to_md(text: str) -> str:
    """Docstring text to Markdown: ``x`` -> `x`, ``>>>`` examples -> pycon blocks."""
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    text = re.sub(r":(?:class|func|meth|attr|mod):`~?([^`]+)`", r"`\1`", text)
    out: list[str] = []
    example: list[str] = []
    literal: list[str] | None = None  # an indented block after a line ending in "::"

    def flush_example() -> None:
        if example:
            out.extend(["", "```pycon", *example, "```", ""])
            example.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if literal is not None:
            if not stripped or line.startswith((" ", "\t")):
                literal.append(line[4:] if line.startswith("    ") else line.lstrip())
                continue
            out.extend(["", "```text", *_trim_blank(literal), "```", ""])
            literal = None
        if stripped.startswith((">>>", "...")):
            example.append(re.sub(r"\s*# doctest:.*$", "", stripped))
            continue
        flush_example()
        if stripped.endswith("::"):
            out.append(line.rstrip()[:-1])
            literal = []
            continue
        out.append(line)
    flush_example()
    if literal:
        out.extend(["", "```text", *_trim_blank(literal), "```", ""])
    return "\n".join(out).strip() + "\n"


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _doc(obj: Any) -> str:
    return _rst_to_md(inspect.cleandoc(obj.__doc__ or ""))


def _param(p: inspect.Parameter) -> str:
    text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
    if p.annotation is not p.empty:
        text += f": {_annotation(p.annotation)}"
    if p.default is not p.empty:
        text += f" = {p.default!r}"
    return text


def _signature(name: str, func: Callable[..., Any]) -> str:
    """``name(a: int, *, b: str | None = None) -> T``, one parameter a line when long."""
    sig = inspect.signature(func)
    body: list[str] = []
    star_done = False
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star_done:
            body.append("*")
        if p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL):
            star_done = True
        body.append(_param(p))
    ret = sig.return_annotation
    tail = "" if ret is inspect.Signature.empty else f" -> {_annotation(ret)}"
    one_line = f"{name}({', '.join(body)}){tail}"
    if len(one_line) <= 88:
        return one_line
    return f"{name}(\n" + "".join(f"    {b},\n" for b in body) + f"){tail}"


def _annotation(ann: Any) -> str:
    return ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))


def _entry(title: str, func: Callable[..., Any], shown_name: str | None = None) -> str:
    return (f"### `{title}`\n\n```text\n{_signature(shown_name or title, func)}\n```\n\n"
            f"{_doc(func)}\n")


# -- configuration ---------------------------------------------------------------------------
def _type_name(annotation: Any) -> str:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' for a in args)
    if args:
        parts = [_type_name(a) for a in args]
        return " \\| ".join(parts)
    if annotation is type(None):
        return "`None`"
    name = getattr(annotation, "__name__", str(annotation))
    return {"SecretStr": "`str` (secret)"}.get(name, f"`{name}`")


def _default(field: Any) -> str:
    from llm_magics.core.settings import _state_dir

    if field.default_factory is not None:
        value = str(field.default_factory())
        state = str(_state_dir())
        if value.startswith(state):  # machine-specific; show the rule instead
            value = "$XDG_CACHE_HOME/llm-magics" + value[len(state):]
        return f"`{value}`"
    if field.default is None:
        return "`None`"
    return f"`{field.default!r}`"


def configuration_page() -> str:
    from llm_magics.core.settings import _ENV_ALIASES, Settings
    from llm_magics.jupyter.magics import CONFIG_TRAITS, NO_WIDGETS_ENV, LLMMagics
    from llm_magics.local.model import MODEL_ENV
    from llm_magics.local.state import STATE_DIR_ENV
    from llm_magics.server.gateway.config import CLIENT_KEYS_ENV

    rows = []
    for name, field in Settings.model_fields.items():
        envs = [f"`{env_name(name)}`", *(f"`{a}`" for a in _ENV_ALIASES.get(name, ()))]
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | "
                    f"{'<br>'.join(envs)} | {field.description} |")
    traits = LLMMagics.class_traits(config=True)
    trait_rows = [
        f"| `c.LLMMagics.{name}` | {trait.help} |"
        for name, trait in traits.items()
        if name in CONFIG_TRAITS or name == "widgets"
    ]
    other_env = [
        (NO_WIDGETS_ENV, "Set to `1` to make `%%llm_stream` and `%llm_batch status` print "
         "plain text instead of widgets (nbconvert, nbclient, CI)."),
        (MODEL_ENV, "Path of a GGUF file for the embedded local model, instead of the "
         "packaged SmolLM2."),
        (STATE_DIR_ENV, "Directory where the embedded local model server keeps its state "
         "(pid, port, log)."),
        (CLIENT_KEYS_ENV, "Client keys the gateway accepts (see "
         "[Simulator and gateway](../simulator-gateway.md))."),
    ]
    return "\n".join([
        "# Configuration reference",
        "",
        _GENERATED_NOTE,
        "Settings resolve in one place, highest first: call arguments "
        "(`complete(..., rpm=500)`), magic flags, `llm_magics.configure()` / `%llm_config` / "
        "IPython config, the environment, then the defaults below. With no API key and no "
        "base URL anywhere, calls go to the [embedded local model](../local-model.md).",
        "",
        "Environment values are read on every call, so setting one in a running kernel "
        "(`os.environ[...] = ...`) takes effect on the next call. The first variable listed "
        "for a setting wins over the next.",
        "",
        "## Settings",
        "",
        "| name | type | default | environment | description |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "## IPython config",
        "",
        "The magics are an IPython `Configurable`: put these in "
        "`~/.ipython/profile_default/ipython_config.py`, or set them live with "
        "`%config LLMMagics.rpm = 500`. They write the same layer as `configure()`.",
        "",
        "| trait | help |",
        "|---|---|",
        *trait_rows,
        "",
        "## Other environment variables",
        "",
        "| variable | effect |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in other_env),
        "",
    ])


# -- magics ----------------------------------------------------------------------------------
MAGICS = ("llm", "llm_stream", "llm_config", "llm_batch", "llm_history")


def _help_texts() -> dict[str, str]:
    """What ``%<magic> --help`` prints, from a real InteractiveShell."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "llm_magics")
    texts = {}
    for name in MAGICS:
        with capture_output() as captured:
            shell.run_line_magic(name, "--help")
        texts[name] = captured.stdout.strip()
    texts["llm_chat"] = inspect.cleandoc(shell.find_line_magic("llm_chat").__doc__ or "")
    return texts


def _strip_rst_literal(text: str) -> str:
    """IPython's help starts with ``::`` and an indented usage line; keep it plain."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "::":
        lines = lines[1:]
    return "\n".join(_trim_blank(lines))


def magics_page() -> str:
    texts = _help_texts()
    intro = {
        "llm": "Cell magic: one blocking call; the cell's text is the prompt.",
        "llm_stream": "Cell magic: stream the answer into a live widget (or plain text).",
        "llm_config": "Line magic: show the settings (key masked), or set them.",
        "llm_batch": "Line magic: submit to the Batch API and follow jobs.",
        "llm_history": "Line magic: spend, tokens and errors from the call log "
                       "([guide](../guides/history.md)).",
        "llm_chat": "Line magic: see or clear the conversation of `--chat` cells.",
    }
    parts = ["# Magics reference", "", _GENERATED_NOTE,
             "`%load_ext llm_magics` registers these. Each section is exactly what "
             "`%<magic> --help` prints (for `%llm_chat`, its docstring). `%%llm` and "
             "`%%llm_stream` are cell magics; run as line magics they only accept `--help`.",
             ""]
    for name in (*MAGICS, "llm_chat"):
        parts += [f"## `%{'%' if name in ('llm', 'llm_stream') else ''}{name}`", "",
                  intro[name], "", "```text", _strip_rst_literal(texts[name]), "```", ""]
    return "\n".join(parts)


# -- accessor --------------------------------------------------------------------------------
def accessor_page() -> str:
    import pandas  # noqa: F401 - first: importing it mid-way through llm_magics.pandas

    from llm_magics.core.jobs import FanoutJob

    # makes llm_magics.pandas_hook register the accessor from a half-imported package
    from llm_magics.pandas.accessor import LLMDataFrameAccessor, LLMSeriesAccessor, _LLMAccessor

    parts = ["# `df.llm` accessor reference", "", _GENERATED_NOTE,
             "`import llm_magics` (or `%load_ext llm_magics`) registers the accessor on "
             "every DataFrame and Series, whichever of pandas and llm_magics is imported "
             "first. Guide: [Async fan-out](../guides/async.md).", "",
             f"## `df.llm`\n\n{_doc(LLMDataFrameAccessor)}",
             f"## `series.llm`\n\n{_doc(LLMSeriesAccessor)}",
             _entry("df.llm.apply", _LLMAccessor.apply),
             _entry("df.llm.estimate", _LLMAccessor.estimate),
             f"### `df.llm.last_errors`\n\n{_doc(_LLMAccessor.last_errors)}",
             f"## `FanoutJob`\n\nWhat `apply(..., background=True)` returns.\n\n"
             f"{_doc(FanoutJob)}"]
    for name, member in inspect.getmembers(FanoutJob):
        if name.startswith("_") or not (inspect.isfunction(member) or
                                        isinstance(member, property)):
            continue
        if name in ("attach", "mark_started", "mark_finished", "cancel_requested"):  # internal
            continue
        if isinstance(member, property):
            parts.append(f"### `job.{name}` (property)\n\n{_doc(member.fget)}")
        else:
            parts.append(_entry(f"job.{name}", member))
    return "\n".join(parts)


# -- python API ------------------------------------------------------------------------------
def python_api_page() -> str:
    import llm_magics
    import llm_magics.batch as batch
    from llm_magics import queue

    parts = ["# Python API reference", "", _GENERATED_NOTE,
             "The same core as the magics, for scripts, workers and notebook cells. "
             "The sync functions work inside a running event loop too (see "
             "[Troubleshooting](../troubleshooting.md#event-loops)).", ""]
    parts.append("## `llm_magics`\n")
    for name in ("complete", "acomplete", "stream", "astream", "map", "amap", "configure",
                 "status", "history"):
        parts.append(_entry(f"llm_magics.{name}", getattr(llm_magics, name)))
    for name in ("Response", "Usage", "TextStream", "CallStats"):
        parts.append(f"### `llm_magics.{name}`\n\n{_doc(getattr(llm_magics, name))}")
    parts.append("## `llm_magics.batch`\n\n" + _doc(batch))
    for name in ("submit", "submit_jsonl", "jobs", "get_job"):
        parts.append(_entry(f"batch.{name}", getattr(batch, name)))
    job_cls = batch.BatchJob
    for name in ("status", "wait", "results", "outcomes", "errors", "cancel", "retry_failed"):
        parts.append(_entry(f"job.{name}", getattr(job_cls, name)))
    parts.append("## `llm_magics.queue`\n\n" + _doc(queue))
    for name in ("map", "amap"):
        parts.append(_entry(f"queue.{name}", getattr(queue, name)))
    return "\n".join(parts)


PAGES: dict[str, Callable[[], str]] = {
    "reference/configuration.md": configuration_page,
    "reference/magics.md": magics_page,
    "reference/accessor.md": accessor_page,
    "reference/python-api.md": python_api_page,
}
"""Generated page path (inside docs/) -> the function that writes it."""

_BENCHMARKS_STUB = """# Benchmarks

The benchmark report has not been published in these docs yet. The
benchmarks live in the `benchmarks/` directory of the repository; each one runs
our path and a baseline in the same run and reports ratios.
"""


# -- mkdocs hook -----------------------------------------------------------------------------
def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: add the generated pages (and a stub if benchmarks.md is not written yet)."""
    from mkdocs.structure.files import File

    for path, make in PAGES.items():
        if files.get_file_from_path(path) is not None:
            raise RuntimeError(f"docs/{path} is generated by tools/docgen.py; delete the file.")
        files.append(File.generated(config, path, content=make()))
    if files.get_file_from_path("benchmarks.md") is None:
        files.append(File.generated(config, "benchmarks.md", content=_BENCHMARKS_STUB))
    return files
