"""Child-process entry point: llama-cpp-python's OpenAI server, made safe to embed.

Run as a script (``python .../_serve.py [--parent-pid PID] -- <server args>``),
not as ``-m llm_magics.local._serve``: importing the ``llm_magics`` package
would load openai and the whole core into the server for nothing (~1 s).
It adds three things to ``python -m llama_cpp.server``:

* ``--parent-pid``: a thread waits for that process to end (pidfd, else polling
  ``getppid``) and exits at once. That is how an owned server dies with its
  kernel even on SIGKILL. ``PR_SET_PDEATHSIG`` is not used: it fires when the
  *thread* that forked exits, and the engine starts the server from a worker
  thread that may be retired long before the kernel ends.
* An environment scrub: llama_cpp.server lets ``HOST``, ``PORT``,
  ``CONFIG_FILE`` and any settings-named variable (``API_KEY``, ``MODEL``, ...)
  override the command line, which could bind beyond 127.0.0.1 or demand a key.
* On CPUs with Intel AMX, weights stay out of llama.cpp's AMX buffer: its
  matmul segfaults on the first decode on such machines (ggml-org/llama.cpp
  #20824; seen here with llama-cpp-python 0.3.36 on a Sapphire Rapids VM).
  ``LLM_MAGICS_LOCAL_EXTRA_BUFTS=1`` keeps the extra buffers, ``=0`` always drops them.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # drop this folder from sys.path: its modules must not shadow others
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import select  # noqa: E402 - after the sys.path fix on purpose
import threading  # noqa: E402
import time  # noqa: E402

EXTRA_BUFTS_ENV = "LLM_MAGICS_LOCAL_EXTRA_BUFTS"


def _watch_parent(parent_pid: int) -> None:
    """Exit this process as soon as ``parent_pid`` (our launcher) is gone."""
    if os.getppid() != parent_pid:
        os._exit(0)  # the launcher died before we got here
    try:
        fd = os.pidfd_open(parent_pid)
    except (AttributeError, OSError):  # no pidfd (macOS, old kernels): poll instead
        while os.getppid() == parent_pid:
            time.sleep(0.25)
        os._exit(0)
    if os.getppid() != parent_pid:  # the pid may have been reused between the two checks
        os._exit(0)
    select.select([fd], [], [])  # readable once the process has exited
    os._exit(0)


def _scrub_environment() -> None:
    from llama_cpp.server.settings import ConfigFileSettings, Settings

    names = set(Settings.model_fields) | set(ConfigFileSettings.model_fields)
    names |= {"host", "port", "config_file"}
    for key in list(os.environ):
        if key.lower() in names:
            del os.environ[key]


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        pass
    return False


def _avoid_amx_buffers() -> None:
    choice = os.environ.get(EXTRA_BUFTS_ENV, "")
    if choice == "1" or (choice != "0" and not _cpu_has_amx()):
        return
    import llama_cpp.llama_cpp as lib

    if "use_extra_bufts" not in {name for name, *_ in lib.llama_model_params._fields_}:
        return
    default_params = lib.llama_model_default_params

    def params_without_extra_buffers():  # noqa: ANN202 - ctypes struct
        params = default_params()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = params_without_extra_buffers


def main(argv: list[str]) -> None:
    if "--" not in argv:
        raise SystemExit("usage: _serve.py [--parent-pid PID] -- <llama_cpp.server arguments>")
    split = argv.index("--")
    ours, server_args = argv[:split], argv[split + 1 :]
    if ours[:1] == ["--parent-pid"]:
        threading.Thread(
            target=_watch_parent, args=(int(ours[1]),), name="parent-watch", daemon=True
        ).start()
    _scrub_environment()
    _avoid_amx_buffers()
    from llama_cpp.server.__main__ import main as server_main

    sys.argv = ["llama_cpp.server", *server_args]
    server_main()


if __name__ == "__main__":
    main(sys.argv[1:])
