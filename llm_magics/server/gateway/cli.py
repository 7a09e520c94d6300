"""``llm-magics serve``: an OpenAI-compatible gateway with shared limits and a Batch API.

    llm-magics serve --upstream local --port 8787
    LLM_MAGICS_GATEWAY_KEYS=k1,k2 llm-magics serve --upstream https://api.openai.com/v1 --rpm 500

The process prints ``llm-magics serve listening on http://HOST:PORT/v1`` once
it accepts connections (``--port 0`` picks a free port), and a warning line
when no client keys are configured. Keys are read from the environment (or a
keys file) and never printed; a key given on the command line works but is
warned about, since any local user can read it in the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from ...core.secrets import mask_key
from ...core.settings import resolve
from ...errors import LLMError
from ..serving import AppServer, bind_socket, exit_with_parent, url_for, uvicorn_config
from .admission import is_loopback
from .app import create_app
from .config import CLIENT_KEYS_ENV, METRICS_KEY_ENV, GatewayConfig, default_state_dir
from .tenants import key_hash, key_id, read_keys_file
from .upstream import LOCAL, resolve_upstream, upstream_key

__all__ = ["build_parser", "config_from_args", "main"]

BANNER = "llm-magics serve listening on {url}/v1"


def _positive_int(text: str) -> int | None:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value or None


_LIMIT_FLAGS = (
    ("max_storage_mb", "files each client key may keep, uploads and batch outputs, in MB "
                       "(default %(default)g; an upload past it is refused until files are "
                       "deleted)"),
    ("max_active_batches", "batches one client key may have running at once (default "
                           "%(default)s)"),
    ("max_body_mb", "largest JSON request body in MB (default %(default)g; 413 beyond)"),
    ("header_timeout_s", "close a connection whose request headers take longer (default "
                         "%(default)g)"),
    ("body_timeout_s", "answer 408 when a request body pauses longer (default %(default)g)"),
    ("write_timeout_s", "close a connection whose client stops reading its answer (the send "
                        "buffer stays full) for this long (default %(default)g)"),
    ("keep_alive_s", "close idle keep-alive connections after this long (default %(default)s)"),
    ("max_connections", "connections + requests at once before 503 (default %(default)s)"),
)
"""Flags named like a ``GatewayConfig`` field: their type and default are the field's."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-magics serve",
        description="OpenAI-compatible gateway: one cache, one RPM/TPM limiter and one breaker "
        "for every client, SSE streaming, and /v1/files + /v1/batches over any upstream.",
    )
    add = parser.add_argument
    add("--upstream", default=None,
        help="upstream base URL (e.g. http://127.0.0.1:8000/v1) or 'local' for the embedded "
             "model (default: OPENAI_BASE_URL if set, else local)")
    add("--upstream-key-env", default=None, metavar="NAME",
        help="environment variable holding the upstream key (default: OPENAI_API_KEY)")
    add("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    add("--port", type=int, default=8787, help="port; 0 picks a free one (default 8787)")
    add("--client-keys", default=None, metavar="K1,K2",
        help=f"keys clients must send as 'Authorization: Bearer'; prefer ${CLIENT_KEYS_ENV} "
             "(a command line is visible to every local user). None = open, loopback only")
    add("--keys-file", type=Path, default=None, metavar="PATH",
        help='JSON list of client keys with their own limits: [{"key": "...", "rpm": 60, '
             '"tpm": 100000, "max_priority": "high"}] (chmod 600 it)')
    add("--key-ids", action="store_true",
        help="print the id the call log names each client key by (GET /v1/history), and exit")
    add("--key-rpm", type=_positive_int, default=None,
        help="requests per minute for each client key (its own share; 429 beyond)")
    add("--key-tpm", type=_positive_int, default=None,
        help="tokens per minute for each client key (its own share; 429 beyond)")
    add("--key-max-priority", default="interactive", choices=["interactive", "high", "bulk"],
        help="highest priority a client key's requests get; a higher X-LLM-Priority is served "
             "at this one (bulk: no key goes ahead of others' bulk work)")
    add("--key-concurrency", type=_positive_int, default=None,
        help="requests each client key may have in flight (429 beyond; default: half of "
             "--concurrency when there are two or more keys)")
    add("--rpm", type=_positive_int, default=None, help="requests per minute, shared by all")
    add("--tpm", type=_positive_int, default=None, help="tokens per minute, shared by all")
    add("--concurrency", type=int, default=32, help="most upstream calls in flight (default 32)")
    add("--no-cache", action="store_true", help="do not reuse answers for identical requests")
    add("--share-cache", action="store_true",
        help="one response cache for all client keys (default: one per key) and the "
             "x-llm-cache: hit/miss header; a hit then tells a client someone else asked")
    add("--cache-path", type=Path, default=None,
        help="response cache file (default: STATE_DIR/cache.sqlite)")
    add("--state-dir", type=Path, default=None,
        help=f"where batches, files and the cache live (default: {default_state_dir()})")
    add("--max-file-mb", type=float, default=200.0,
        help="largest /v1/files upload in MB (default 200, OpenAI's batch limit)")
    for name, help_text in _LIMIT_FLAGS:
        default = getattr(GatewayConfig, name)
        add(f"--{name.replace('_', '-')}", type=type(default), default=default, help=help_text)
    add("--allowed-host", action="append", default=[], metavar="NAME",
        help="a Host name clients use besides localhost and the bound address (repeatable; "
             "'*' turns the DNS-rebinding check off)")
    add("--cors-origin", action="append", default=[], metavar="ORIGIN",
        help="a web origin (https://app.example) allowed to call the gateway from a browser "
             "(repeatable); requests from other origins get 403")
    add("--allow-remote-keyless", action="store_true",
        help="DANGEROUS: serve a non-loopback --host without client keys")
    add("--default-priority", default="high", choices=["interactive", "high", "bulk"],
        help="priority of requests without an X-LLM-Priority header (batches are bulk)")
    add("--batch-window-s", type=float, default=None,
        help="shorten the 24h completion window to this many seconds (testing expiry)")
    add("--log-level", default="warning",
        choices=["critical", "error", "warning", "info", "debug"])
    add("--exit-with-parent", action="store_true",
        help="exit when stdin closes (for a parent that runs it as a child)")
    return parser


def _warn(message: str) -> None:
    print(f"llm-magics serve: WARNING: {message}", file=sys.stderr, flush=True)


def _client_keys(flag: str | None) -> tuple[str, ...]:
    raw = flag if flag is not None else os.environ.get(CLIENT_KEYS_ENV, "")
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def config_from_args(args: argparse.Namespace) -> GatewayConfig:
    """Options to config; the upstream and metrics keys are read from the environment here.

    An option named like a config field is that field; the others are translated below.
    """
    upstream = args.upstream or resolve().base_url or LOCAL
    same_name = {f.name: getattr(args, f.name) for f in fields(GatewayConfig)
                 if hasattr(args, f.name)}
    return GatewayConfig(**{
        **same_name,
        "upstream": upstream,
        "upstream_key": None if upstream == LOCAL else upstream_key(args.upstream_key_env),
        "client_keys": _client_keys(args.client_keys),
        "metrics_key": os.environ.get(METRICS_KEY_ENV) or None,
        "allowed_hosts": tuple(args.allowed_host),
        "cors_origins": tuple(args.cors_origin),
        "cache": not args.no_cache,
        "state_dir": args.state_dir or default_state_dir(),
    })


def print_key_ids(config: GatewayConfig) -> None:
    """Each configured client key (masked) and its call-log id, so spend maps to a tenant."""
    keys = [*config.client_keys, *(k.key for k in read_keys_file(Path(config.keys_file)))
            ] if config.keys_file is not None else list(config.client_keys)
    for key in keys:
        print(f"{mask_key(key)}  {key_id(key_hash(key))}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gateway until SIGINT/SIGTERM; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.client_keys is not None:
        _warn(f"--client-keys puts keys on the command line, where any local user can read "
              f"them; set ${CLIENT_KEYS_ENV} or use --keys-file instead.")
    try:
        config = config_from_args(args)
        if args.key_ids:
            print_key_ids(config)
            return 0
        upstream = resolve_upstream(config.upstream, config.upstream_key)
        app = create_app(config, upstream, host=args.host)
    except (LLMError, ValueError) as exc:
        print(f"llm-magics serve: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"llm-magics serve: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    url = url_for(args.host, sock.getsockname()[1])
    server = AppServer(uvicorn_config(app, log_level=args.log_level, in_process=False,
                                      limits=config.connection_limits))
    if args.exit_with_parent:
        exit_with_parent()
    if not app.gateway.keys.enabled:
        loud = " THIS ADDRESS IS NOT LOOPBACK (--allow-remote-keyless)." \
            if args.allow_remote_keyless and not is_loopback(args.host) else ""
        _warn(f"no client keys (${CLIENT_KEYS_ENV} or --keys-file); anyone who can reach {url} "
              f"can use the upstream.{loud}")
    where = "the embedded local model" if upstream.local else upstream.base_url
    print(f"llm-magics serve: upstream {where}; state in {config.state_dir}", file=sys.stderr,
          flush=True)
    print(BANNER.format(url=url), flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
        return 130
    return 0
