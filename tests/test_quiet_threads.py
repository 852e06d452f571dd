"""The add-on's threads stand still while an operator runs under a context override
(fist_and_ball/live/quiet_threads.py): the network thread parks, jobs hold, pauses
nest, nothing received is lost. The crash they prevent: tests/test_quiet_threads_bpy.py.
"""

from __future__ import annotations

import ast
import asyncio
import json
import sys
import threading
import time
from typing import Any

import pytest
from live_bridge import ROOT, free_port
from loopback_ws_server import LoopbackServer
from websockets.asyncio.server import ServerConnection

from fist_and_ball.live.client import BridgeClient
from fist_and_ball.live.connection import Connection
from fist_and_ball.live.jobs import JobRunner
from fist_and_ball.live.mailbox import Mailbox
from fist_and_ball.live.quiet_threads import quiet


class StreamingBridge(LoopbackServer):
    """Sends hello, then numbered re-don `running` messages every `period_s`, without end."""

    def __init__(self, port: int, period_s: float = 0.002) -> None:
        super().__init__(port)
        self.period_s = period_s
        self.sent = 0

    async def _handler(self, ws: ServerConnection) -> None:
        hello = {"type": "hello", "protocol": 1, "bridge": "test", "source": "fake",
                 "n_sensors": 3, "rate_hz": 500.0, "decoder": "qg", "grades": 9,
                 "gestures": ["fingers"], "hand_authorized": False}  # fmt: skip
        await ws.send(json.dumps(hello))
        try:
            while True:
                self.sent += 1
                msg = {"type": "redon", "state": "running", "step": "rest",
                       "prompt": f"message {self.sent}", "progress": 0.5,
                       "remaining_s": 3.0}  # fmt: skip
                await ws.send(json.dumps(msg))
                await asyncio.sleep(self.period_s)
        except Exception:
            pass


def where(thread: threading.Thread | None) -> list[str]:
    """The function names on `thread`'s stack, innermost first."""
    assert thread is not None and thread.ident is not None
    frame = sys._current_frames().get(thread.ident)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def link_to(client: BridgeClient) -> Connection:
    """The add-on's `Connection` holding `client` (as after Connect)."""
    link = Connection()
    link.client = client
    return link


def prompts(mailbox: Mailbox) -> list[int]:
    return [int(u.prompt.split()[-1]) for u in mailbox.drain().redon]


@pytest.fixture
def streaming() -> Any:
    with StreamingBridge(free_port()) as bridge:
        mailbox = Mailbox(max_errors=100_000)  # keeps every re-don message (32 by default)
        client = BridgeClient(bridge.url, mailbox)
        client.start()
        deadline = time.monotonic() + 10
        while not prompts(mailbox) and time.monotonic() < deadline:
            time.sleep(0.02)
        yield client, mailbox
        client.stop()


def test_the_network_thread_parks_receives_nothing_and_then_loses_nothing(
    streaming: tuple[BridgeClient, Mailbox],
) -> None:
    client, mailbox = streaming
    time.sleep(0.1)
    assert client.pause(3.0) is True
    assert "_park" in where(client._thread)  # in its wait, running no Python
    seen = prompts(mailbox)  # what arrived before it parked
    time.sleep(0.3)  # about 150 messages are sent meanwhile
    assert prompts(mailbox) == [] and "_park" in where(client._thread)
    client.resume()
    time.sleep(0.3)
    after = prompts(mailbox)
    assert "_park" not in where(client._thread)
    # what waited in the socket's buffer arrives, in order, with no gap
    assert len(after) > 100 and after == list(range(after[0], after[0] + len(after)))
    assert seen and after[0] == seen[-1] + 1


def test_pauses_nest_and_only_the_outermost_resume_lets_it_go(
    streaming: tuple[BridgeClient, Mailbox],
) -> None:
    client, mailbox = streaming
    link = link_to(client)
    with quiet([link]) as outer:
        with quiet([link]) as inner:
            assert outer and inner
        prompts(mailbox)
        time.sleep(0.2)
        assert prompts(mailbox) == [] and "_park" in where(client._thread)
    time.sleep(0.3)
    assert len(prompts(mailbox)) > 50


def test_a_client_replaced_during_a_pause_is_still_resumed(
    streaming: tuple[BridgeClient, Mailbox],
) -> None:
    client, mailbox = streaming
    link = link_to(client)
    with quiet([link]):
        link.client = None  # as a disconnect would
    time.sleep(0.3)
    assert len(prompts(mailbox)) > 50


def test_a_stopped_or_missing_client_counts_as_still() -> None:
    link = Connection()
    with quiet([link]) as still:
        assert still
    client = BridgeClient("ws://127.0.0.1:9", Mailbox())  # never started
    assert client.pause(0.1) is True
    client.resume()


def test_jobs_finish_before_and_new_ones_wait_for_the_resume() -> None:
    jobs = JobRunner()
    release = threading.Event()
    done: list[str] = []
    jobs.submit("slow", lambda: release.wait(5) and "slow", lambda r: done.append(r.value))
    threading.Timer(0.2, release.set).start()
    t0 = time.monotonic()
    assert jobs.pause(3.0) is True  # waited for the running job
    assert time.monotonic() - t0 >= 0.15
    ran = threading.Event()
    jobs.submit("later", lambda: ran.set() or "later", lambda r: done.append(r.value))
    time.sleep(0.2)
    assert not ran.is_set()  # held while paused
    jobs.resume()
    assert ran.wait(5)
    assert jobs.wait(5)
    jobs.deliver()
    assert sorted(done) == ["later", "slow"]


def test_a_job_that_will_not_end_is_reported_not_waited_for_forever() -> None:
    jobs = JobRunner()
    release = threading.Event()
    jobs.submit("stuck", lambda: release.wait(10), lambda r: None)
    with quiet([jobs], timeout_s=0.2) as still:
        assert still is False
    release.set()
    assert jobs.wait(5)


# Sites whose operator call under an override is made quiet by their caller:
# (file, function) -> (file, function of the caller that holds `quiet`).
QUIET_BY_CALLER = {
    ("fist_and_ball/scene/build.py", "_build_armature"): (
        "fist_and_ball/ui/operators.py", "build_game_scene"),  # headless builds before any thread
    ("fist_and_ball/scene/render.py", "render_png"): (
        "fist_and_ball_app/headless/play.py", "show"),
    ("fist_and_ball/ui/patient_mode.py", "_enter"): ("fist_and_ball/ui/patient_mode.py", "enter"),
    ("fist_and_ball/ui/patient_mode.py", "_configure_view"): (
        "fist_and_ball/ui/patient_mode.py", "enter"),  # through _enter
}  # fmt: skip


def _functions(path: str) -> list[ast.FunctionDef]:
    tree = ast.parse((ROOT / path).read_text())
    return [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]


def _quiet_item(node: ast.With) -> bool:
    """`with quiet(...)` or `with quiet_threads()` among the items."""
    return any(
        isinstance(i.context_expr, ast.Call)
        and ast.unparse(i.context_expr.func).split(".")[-1] in ("quiet", "quiet_threads")
        for i in node.items
    )


def test_every_operator_called_under_an_override_runs_with_the_threads_quiet() -> None:
    """A new `bpy.ops` call inside `temp_override` without `quiet` fails here."""
    bare = []
    for path in sorted(p for d in ("fist_and_ball", "fist_and_ball_app")
                       for p in (ROOT / d).rglob("*.py")):  # fmt: skip
        rel = str(path.relative_to(ROOT))
        for fn in _functions(rel):
            name = fn.name
            for node in ast.walk(fn):
                if not isinstance(node, ast.With) or "bpy.ops." not in ast.unparse(node):
                    continue
                if not any("temp_override" in ast.unparse(i.context_expr) for i in node.items):
                    continue
                outer = [w for w in ast.walk(fn) if isinstance(w, ast.With) and node in ast.walk(w)]
                if any(_quiet_item(w) for w in outer):
                    continue
                caller = QUIET_BY_CALLER.get((rel, name))
                if caller is None:
                    bare.append(f"{rel}:{node.lineno} in {name}")
                    continue
                callers = [f for f in _functions(caller[0]) if f.name == caller[1]]
                walked = [w for f in callers for w in ast.walk(f)]
                if not any(isinstance(w, ast.With) and _quiet_item(w) for w in walked):
                    bare.append(f"{rel}:{node.lineno} in {name} (its caller {caller} is not quiet)")
    assert bare == [], bare
