"""`set_process_realtime_priority`: every thread of the bridge, not only the hot ones."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_CODE = """
import json, os, threading
from bridge.realtime import set_process_realtime_priority
started, stop = threading.Event(), threading.Event()
def idle():
    started.set(); stop.wait()
before = threading.Thread(target=idle); before.start(); started.wait()
problem = set_process_realtime_priority(7)
policies = {}
def record(name):
    policies[name] = os.sched_getscheduler(threading.get_native_id())
after = threading.Thread(target=record, args=("made after",)); after.start(); after.join()
policies["main"] = os.sched_getscheduler(0)
policies["made before"] = os.sched_getscheduler(before.native_id)
stop.set(); before.join()
print(json.dumps({"problem": problem, "policies": policies, "fifo": os.SCHED_FIFO}))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_setscheduler"), reason="Linux only")
def test_every_thread_of_the_process_becomes_real_time() -> None:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CODE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    got = json.loads(out.stdout)
    if got["problem"]:
        pytest.skip(f"no real-time scheduling here: {got['problem']}")
    # a thread that was already running (the hand loop) and one made later both get it
    assert got["policies"] == dict.fromkeys(("made after", "main", "made before"), got["fifo"])
