"""The magics: ``%%llm``, ``%%llm_stream``, ``%llm_config`` and ``%llm_chat``.

A thin face: prompts are filled by ``template``, calls go to the core with
``priority="interactive"`` (ahead of background fan-outs), answers are shown
through ``outputs``/``stream_view``, and every failure is one line
(``cell_error``). ``LLMMagics`` is also the IPython ``Configurable`` behind
``c.LLMMagics.model = ...`` in a profile and ``%config LLMMagics.rpm = 500``.

    %%llm -m gpt-4o-mini --format markdown --out answer
    Summarise {topic} in three bullets.
"""

from __future__ import annotations

import html
import keyword
import os
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import Bool, Enum, Float, Integer, Unicode, observe

from ..core import settings as settings_mod
from ..core.history.context import as_face
from ..core.types import to_messages
from ..errors import LLMError
from .cell_error import CellError
from .chat import ChatSession
from .llm_config import describe_assignments, parse_assignments, settings_bundle
from .outputs import is_json, output_bundle
from .pending import InterruptGate, Pending, PendingStreams
from .render import FORMATS, to_html
from .template import interpolate

if TYPE_CHECKING:
    from ..core.types import Response

__all__ = ["LLMMagics", "CONFIG_TRAITS", "NO_WIDGETS_ENV", "RESULT_NAME", "loaded"]

CONFIG_TRAITS = ("model", "base_url", "rpm", "tpm", "concurrency", "timeout", "max_retries",
                 "cache")
NO_WIDGETS_ENV = "LLM_MAGICS_NO_WIDGETS"
"""Set to 1 to stream plain text even inside a kernel (nbconvert, nbclient, CI)."""
RESULT_NAME = "_llm"
"""The notebook variable that always holds the last answer."""


def _call_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags ``%%llm`` and ``%%llm_stream`` share."""
    decorators = [
        argument("-m", "--model", help="Model name (default: the configured model)."),
        argument("-s", "--system", help='System prompt; quote it: -s "You answer in French."'),
        argument("-t", "--temperature", type=float, help="Sampling temperature, e.g. 0."),
        argument("--max-tokens", type=int, dest="max_tokens", help="Cap on answer tokens."),
        argument("--max-cost", type=float, dest="max_cost", metavar="USD",
                 help="Refuse the call unless its worst case fits this many USD."),
        argument("-f", "--format", default="markdown", choices=FORMATS,
                 help="How to show the answer (default: markdown)."),
        argument("-o", "--out", metavar="VAR",
                 help="Also store the Response in this notebook variable."),
        argument("--chat", action="store_true",
                 help="Continue the conversation of earlier --chat cells (%%llm_chat show|reset)."),
        argument("--no-cache", action="store_true", dest="no_cache",
                 help="Ask the model again even if this exact request was answered before."),
        argument("-h", "--help", action="store_true", help="Show this help."),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


loaded: dict[int, LLMMagics] = {}
"""The LLMMagics loaded into each shell, by ``id(shell)`` (``%load_ext`` fills it)."""


@magics_class
class LLMMagics(Magics):
    """LLM calls from cells; settings from the flags, ``%llm_config`` or IPython config."""

    model = Unicode(None, allow_none=True, help="Default model name.").tag(config=True)
    base_url = Unicode(None, allow_none=True, help="OpenAI-compatible base URL.").tag(config=True)
    rpm = Integer(None, allow_none=True, help="Requests per minute limit.").tag(config=True)
    tpm = Integer(None, allow_none=True, help="Tokens per minute limit.").tag(config=True)
    concurrency = Integer(None, allow_none=True, help="Most requests in flight.").tag(config=True)
    timeout = Float(None, allow_none=True, help="Whole-request timeout, seconds.").tag(config=True)
    max_retries = Integer(None, allow_none=True, help="Retries after the first try.").tag(
        config=True)
    cache = Bool(None, allow_none=True, help="Reuse answers to identical requests.").tag(
        config=True)
    widgets = Enum(
        ("auto", "always", "never"), "auto",
        help="Live widget for %%llm_stream: auto (inside a kernel), always, or never "
        f"(plain text; also {NO_WIDGETS_ENV}=1 or --no-widget).",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.chat = ChatSession()
        self.pending = PendingStreams(self._settle)
        self.gate = InterruptGate(self.pending)

    # -- IPython config -> core settings --------------------------------------------------
    def config_values(self) -> dict[str, Any]:
        """The traits set in IPython config (unset ones stay out of the settings layer)."""
        return {name: getattr(self, name) for name in CONFIG_TRAITS
                if getattr(self, name) is not None}

    def apply_config(self) -> None:
        values = self.config_values()
        if values:
            try:
                settings_mod.configure(**values)
            except LLMError as err:
                print(f"llm_magics: ignoring IPython config: {err.message}", file=sys.stderr)

    @observe(*CONFIG_TRAITS)
    def _setting_trait_changed(self, change: dict[str, Any]) -> None:
        try:
            settings_mod.configure(**{change["name"]: change["new"]})
        except LLMError as err:
            print(f"llm_magics: ignoring LLMMagics.{change['name']}: {err.message}",
                  file=sys.stderr)

    # -- %%llm ----------------------------------------------------------------------------
    @magic_arguments()
    @_call_arguments
    @line_cell_magic
    def llm(self, line: str, cell: str | None = None) -> None:
        """Send the cell to the model and show the answer; the cell waits for it.

        {name} in the cell reads notebook variables ({df.shape}, {d['k']}, {items[-1]});
        write {{ and }} for literal braces. Placeholders only read: the calls allowed,
        without arguments, are head tail describe to_markdown to_string to_csv to_json
        on pandas objects, keys values items on mappings, strip lower upper title on
        strings. Private and dunder names, modules ({os.environ}), secret-looking
        environment names and the API key are refused before anything is sent. The
        Response is kept in _llm (and --out VAR).
        """
        args = _cell_args(self.llm, line, cell, "llm")
        if args is None:
            return
        from ..core.calls import complete  # the SDK loads on the first call, not at %load_ext

        try:
            prompt, messages = self._messages(args, cell)
            with as_face("magic"):
                response = complete(
                    messages, model=args.model, priority="interactive",
                    cache=False if args.no_cache else None,
                    temperature=args.temperature, max_tokens=args.max_tokens,
                    max_cost_usd=args.max_cost,
                )
        except LLMError as err:
            raise CellError.from_error(err) from None
        except KeyboardInterrupt:
            raise CellError("KeyboardInterrupt: the call was cancelled.") from None
        self._store(response, args.out)
        if args.chat:
            self.chat.record(prompt, response.text)
        self._show(response.text, args.format)

    # -- %%llm_stream ---------------------------------------------------------------------
    @magic_arguments()
    @argument("--no-widget", action="store_true", dest="no_widget",
              help=f"Stream plain text instead of the widget (also {NO_WIDGETS_ENV}=1).")
    @_call_arguments
    @line_cell_magic
    def llm_stream(self, line: str, cell: str | None = None) -> None:
        """Stream the answer live: a widget with the growing text, a Stop button and speed.

        In a notebook the cell returns at once so the Stop button stays clickable;
        the next cell waits for the stream, then finds the Response in _llm (and
        --out VAR). Stop or interrupt keeps the partial text. Without widgets
        (terminal, --no-widget, LLM_MAGICS_NO_WIDGETS=1) the text is printed as it
        arrives and the cell waits.
        """
        args = _cell_args(self.llm_stream, line, cell, "llm_stream")
        if args is None:
            return
        try:
            prompt, messages = self._messages(args, cell)
        except LLMError as err:
            raise CellError.from_error(err) from None
        from .streaming import StreamRun  # the SDK loads on the first call, not at %load_ext

        options = {"model": args.model, "temperature": args.temperature,
                   "max_tokens": args.max_tokens, "max_cost_usd": args.max_cost}
        run = StreamRun(messages, options, use_cache=False if args.no_cache else None)
        item = Pending(run, out=args.out, chat_prompt=prompt if args.chat else None,
                       fmt=args.format)
        if self.widgets_enabled(args.no_widget):
            self._stream_to_widget(item)
        else:
            self._stream_to_text(item)

    def widgets_enabled(self, no_widget: bool = False) -> bool:
        """Widget only where one can render: inside a kernel, unless switched off."""
        if no_widget or self.widgets == "never":
            return False
        if os.environ.get(NO_WIDGETS_ENV, "").strip().lower() in ("1", "true", "yes"):
            return False
        return self.widgets == "always" or getattr(self.shell, "kernel", None) is not None

    def _stream_to_widget(self, item: Pending) -> None:
        from .stream_view import StreamView  # ipywidgets loads on first use only

        run = item.run
        view = StreamView(fmt=item.fmt, on_stop=run.cancel)
        run.on_update = lambda r: view.show(r.text, r.live_stats())
        item.view = view
        item.handle = display(view, display_id=True)
        self.pending.add(item)
        run.start()

    def _stream_to_text(self, item: Pending) -> None:
        run = item.run.start()
        shown = 0
        try:
            while not run.wait(0.05).done():
                shown = _echo(run.text, shown)
        except KeyboardInterrupt:
            run.cancel(now=True, reason="interrupted")
            _echo(run.text, shown, end="\n")
            self._settle(item)
            raise CellError(
                f"KeyboardInterrupt: stream stopped after {len(run.text)} characters; "
                f"the partial text is in {RESULT_NAME}."
            ) from None
        _echo(run.text, shown, end="\n" if run.text else "")
        self._settle(item)
        if run.error is not None:
            raise CellError.from_error(run.error)

    def _settle(self, item: Pending) -> None:
        """A stream has ended: store its answer, remember the exchange, save the output."""
        run = item.run
        response = run.outcome()
        if response is not None:
            self._store(response, item.out)
        if item.chat_prompt is not None and run.response is not None:
            self.chat.record(item.chat_prompt, run.response.text)
        if item.handle is not None and item.view is not None:
            item.handle.update(_final_bundle(item), raw=True)

    # -- %llm_config ----------------------------------------------------------------------
    @magic_arguments()
    @argument("assignments", nargs="*", metavar="name=value",
              help="Settings to set, e.g. model=gpt-4o-mini rpm=500; name=none unsets one.")
    @argument("--reset", action="store_true",
              help="Forget what %%llm_config set (IPython config and environment still apply).")
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @line_magic
    def llm_config(self, line: str) -> None:
        """Show the settings (API key masked), or set them for this session.

        Values go through llm_magics.configure(); prefer the OPENAI_API_KEY
        environment variable to typing a key, which would land in the history.
        """
        args = _parse(self.llm_config, line)
        if args is None:
            return
        try:
            if args.reset:
                settings_mod.reset()
                self.apply_config()
                print("llm_config: settings reset to IPython config, environment and defaults.")
            if args.assignments:
                values = parse_assignments(args.assignments)
                settings_mod.configure(**values)
                print(f"llm_config: set {describe_assignments(values)}")
            elif not args.reset:
                display(settings_bundle(settings_mod.resolve()), raw=True)
        except LLMError as err:
            raise CellError.from_error(err) from None

    # -- %llm_chat ------------------------------------------------------------------------
    @line_magic
    def llm_chat(self, line: str) -> None:
        """%llm_chat show | reset: see or clear the conversation that --chat cells share."""
        action = line.strip() or "show"
        if action == "reset":
            self.chat.reset()
            print("llm_chat: conversation cleared.")
        elif action == "show":
            display({"text/plain": self.chat.transcript(), "text/html": self.chat.to_html()},
                    raw=True)
        else:
            raise UsageError(f"Unknown action {action!r}. Usage: %llm_chat show | reset")

    # -- shared ---------------------------------------------------------------------------
    def _messages(self, args: Any, cell: str) -> tuple[str, list[dict[str, Any]]]:
        """The filled-in prompt and the messages to send (TemplateError before any call)."""
        if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
            raise UsageError(f"--out needs a variable name, got {args.out!r}.")
        prompt = interpolate(cell.strip(), self.shell.user_ns)
        messages = to_messages(prompt, args.system)  # rejects an empty prompt
        if args.chat:
            if args.system is not None:
                self.chat.system = args.system
            messages = self.chat.messages_for(prompt)
        return prompt, messages

    def _store(self, response: Response, out: str | None) -> None:
        self.shell.user_ns[RESULT_NAME] = response
        if out:
            self.shell.user_ns[out] = response

    def _show(self, text: str, fmt: str) -> None:
        if fmt == "text":
            print(text)
            return
        if fmt == "json" and not is_json(text):
            print("llm: the answer is not valid JSON; shown as text.", file=sys.stderr)
        display(output_bundle(text, fmt), raw=True)


def _parse(magic: Callable[..., Any], line: str) -> Any | None:
    """Parse flags with shell quoting (IPython's own split keeps the quotes in values);
    ``None`` once ``--help`` has printed the magic's help."""
    try:
        argv = shlex.split(line)
    except ValueError as err:
        raise UsageError(f"Cannot read the flags ({err}): check the quotes.") from None
    args = magic.parser.parse_args(argv)
    if args.help:
        print(magic.__doc__)
        return None
    return args


def _cell_args(magic: Callable[..., Any], line: str, cell: str | None, name: str) -> Any | None:
    """The flags of a cell magic; ``None`` when there is nothing to run (help was printed)."""
    if cell is None:
        _line_form(magic, line, name)
        return None
    return _parse(magic, line)


def _line_form(magic: Callable[..., Any], line: str, name: str) -> None:
    """``%llm --help`` prints the flags; any other line form says how to write the cell."""
    if {"-h", "--help"} & set(line.split()):
        print(magic.__doc__)
        return
    raise UsageError(f"%%{name} takes its prompt from the cell: write it on the lines below "
                     f"%%{name}. %{name} --help lists the flags.")


def _echo(text: str, shown: int, end: str = "") -> int:
    """Print what arrived since the last call; return how much is shown now."""
    sys.stdout.write(text[shown:] + end)
    sys.stdout.flush()
    return len(text)


def _final_bundle(item: Pending) -> dict[str, Any]:
    """The widget output once the stream ended: the widget for live front ends, the final
    text as HTML and plain text for saved notebooks, exports and headless runs."""
    from .streaming import format_footer

    run = item.run
    footer = format_footer(run.live_stats())
    plain = run.text
    if run.status != "done":  # say why it ended early next to the partial text
        plain += ("\n" if plain else "") + f"[{footer}]"
    bundle = dict(item.view._repr_mimebundle_())
    bundle["text/plain"] = plain
    footer_html = f'<div style="color:#666;font-size:0.85em">{html.escape(footer)}</div>'
    bundle["text/html"] = to_html(run.text, item.fmt) + footer_html
    return bundle
