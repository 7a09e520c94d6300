"""The Stop button against a real ipykernel, speaking the Jupyter protocol as a browser would.

A browser click on an ipywidgets Button is a ``comm_msg`` on the kernel's shell
channel; that is exactly what these tests send. They prove the design in
``llm_magics.jupyter.streaming``: the stream cell returns at once, so the
kernel is idle and handles the click while tokens keep flowing over IOPub.
(A rendering browser tier comes separately.)
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel
from jupyter_helpers import API_KEY, MODEL

from tests.support.env import REPO
from tests.support.notebooks import kernel_env
from tests.support.sim import Simulator
from tests.support.waiting import wait_until


class Kernel:
    """A kernel client that keeps every IOPub message, so tests can look back."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.messages: list[dict[str, Any]] = []

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.messages.append(self.client.get_iopub_msg(timeout=0.05))
            except queue.Empty:
                pass

    def execute(self, code: str, timeout: float = 30) -> tuple[dict[str, Any], list[dict]]:
        """Run a cell; return its reply and the IOPub messages it caused until idle."""
        msg_id = self.client.execute(code)
        mine: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            self.messages.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            mine.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"]["msg_id"] != msg_id:
            # A slow kernel start makes the client ask kernel_info more than once and leaves
            # the extra replies on the shell channel; they answer nothing asked here.
            assert reply["msg_type"] == "kernel_info_reply", reply["msg_type"]
            reply = self.client.get_shell_msg(timeout=timeout)
        return reply, mine

    def printed(self, code: str) -> str:
        reply, msgs = self.execute(code)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")

    def click(self, comm_id: str) -> None:
        data = {"method": "custom", "content": {"event": "click"}}
        msg = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.client.shell_channel.send(msg)

    def models(self, name: str) -> list[str]:
        return [m["content"]["comm_id"] for m in self.messages if m["msg_type"] == "comm_open"
                and m["content"]["data"]["state"].get("_model_name") == name]

    def last_view_text_model(self) -> str:
        """The HTML widget holding the text: the first child of the newest StreamView."""
        view = [m for m in self.messages if m["msg_type"] == "comm_open"
                and m["content"]["data"]["state"].get("_model_name") == "VBoxModel"][-1]
        return view["content"]["data"]["state"]["children"][0].removeprefix("IPY_MODEL_")

    def updates_to(self, comm_id: str, key: str = "value") -> list[Any]:
        """Every value the kernel sent for one widget trait, in order."""
        return [m["content"]["data"]["state"][key] for m in self.messages
                if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
                and key in m["content"]["data"].get("state", {})]


@pytest.fixture(scope="module")
def kernel(shared_sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    env = kernel_env(tmp_path_factory.mktemp("kernel-state"), OPENAI_BASE_URL=shared_sim.base_url,
                     OPENAI_API_KEY=API_KEY, LLM_MAGICS_CACHE="false")
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(REPO))
    try:
        k = Kernel(client)
        assert k.execute("%load_ext llm_magics")[0]["content"]["status"] == "ok"
        k.manager = manager  # type: ignore[attr-defined]
        yield k
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_stop_click_is_handled_while_the_stream_runs(kernel, sim):
    sim.configure(token_latency_s=0.02)  # 1000 tokens: 20 s if nobody stops it
    reply, _ = kernel.execute(f"%%llm_stream -m {MODEL}\nTOKENS:1000 go")
    assert reply["content"]["status"] == "ok"
    # The cell returned first; the stream (20 s of tokens) is on the wire after it.
    wait_until(lambda: sim.stats["in_flight"] == 1, 10, "the stream running after the cell")
    kernel.pump(1.0)
    (stop,) = kernel.models("ButtonModel")[-1:]
    body = kernel.last_view_text_model()
    assert len(kernel.updates_to(body)) >= 5  # tokens were already arriving live
    kernel.click(stop)
    out = kernel.printed("print(_llm.finish_reason, len(_llm.text.split()))")
    reason, words = out.split()
    assert reason == "stopped" and 10 < int(words) < 1000
    wait_until(lambda: sim.stats["in_flight"] == 0, 10,
               "the request closed, not just hidden")


def test_widget_updates_on_the_wire_stay_near_20_per_second(kernel, sim):
    sim.configure(token_latency_s=0.003)  # 300 tokens in ~0.9 s
    kernel.execute(f"%%llm_stream -m {MODEL}\nTOKENS:300 go")
    body = kernel.last_view_text_model()
    took = float(kernel.printed("print(_llm.latency_s)"))  # waits for the stream first
    kernel.pump(0.3)
    updates = kernel.updates_to(body)
    assert updates[-1].count(" ") >= 299  # the whole answer arrived
    assert 5 <= len(updates) <= 25 * took + 3, (len(updates), took)


def test_interrupt_while_the_next_cell_waits_stops_the_stream_and_that_cell(kernel, sim):
    sim.configure(token_latency_s=0.02)
    kernel.execute(f"%%llm_stream -m {MODEL}\nTOKENS:400 go")
    msg_id = kernel.client.execute("print('ran')")
    kernel.pump(1.0)
    kernel.manager.interrupt_kernel()
    reply = kernel.client.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id
    kernel.pump(0.3)
    errors = [m for m in kernel.messages if m["msg_type"] == "error"
              and m["parent_header"].get("msg_id") == msg_id]
    printed = [m for m in kernel.messages if m["msg_type"] == "stream"
               and m["parent_header"].get("msg_id") == msg_id]
    assert reply["content"]["status"] == "error" and not printed
    (error,) = errors
    assert error["content"]["ename"] == "CellRejected"
    assert len(error["content"]["traceback"]) == 1  # one line, no traceback wall
    reason, words = kernel.printed(
        "print(_llm.finish_reason, len(_llm.text.split()))").split()
    assert reason == "interrupted" and 10 < int(words) < 400


def test_no_widget_streams_plain_text_output_in_a_kernel(kernel, sim):
    sim.configure(token_latency_s=0.005)
    reply, msgs = kernel.execute(f"%%llm_stream -m {MODEL} --no-widget\nTOKENS:40 go")
    assert reply["content"]["status"] == "ok"
    text = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
    assert not [m for m in msgs if m["msg_type"] in ("display_data", "comm_open")]
    assert text.rstrip("\n") == kernel.printed("print(_llm.text)").rstrip("\n")
    assert len(text.split()) == 40
