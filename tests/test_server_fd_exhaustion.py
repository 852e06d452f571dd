"""fd exhaustion (issue 11 item 9): a bridge out of file descriptors keeps its log small
and serves again once connections go away. A real bridge subprocess with a small
RLIMIT_NOFILE, real loopback connections."""

from __future__ import annotations

import contextlib
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from raw_ws_client import raw_ws

ROOT = Path(__file__).resolve().parent.parent
FD_LIMIT = 64


def _small_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, hard))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_NOFILE semantics")
def test_fd_exhaustion_keeps_the_log_small_and_the_bridge_serving() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fist_and_ball_app.main", "bridge",
         "--source", "sim:socket16?rate=200&loop=1", "--port", "0",
         "--max-clients", "500", "--quiet"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=_small_fd_limit,
    )  # fmt: skip
    log = bytearray()
    url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.extend(line)
            m = re.search(rb"listening on ws://[^:]+:(\d+)", line)
            if m and not url:
                url.append(m.group(1).decode())
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    held: list[socket.socket] = []
    try:
        assert ready.wait(120) and url, log.decode(errors="replace")
        port = int(url[0])
        # Far more connections than descriptors: accept() fails with EMFILE over and
        # over while they stay open (each failure used to log a traceback).
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            if len(held) < 300:
                with contextlib.suppress(OSError):
                    held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            else:
                time.sleep(0.05)
        exhausted_log = len(log)
        for s in held:
            s.close()
        held.clear()
        # descriptors free again: a client is served
        served = None
        for _ in range(50):
            try:
                served = raw_ws(port)
                break
            except (OSError, AssertionError):
                time.sleep(0.2)
        assert served is not None, "the bridge did not serve again after fd exhaustion"
        served.close()
        assert proc.poll() is None, "the bridge died"
    finally:
        for s in held:
            s.close()
        proc.terminate()
        proc.wait(20)
        reader.join(5)
    text = log.decode(errors="replace")
    assert "Too many open files" in text or "out of system resource" in text, text[-2000:]
    # unthrottled: ~650 kB of tracebacks in these 4 s; throttled: a few kB
    assert exhausted_log < 50_000, text[-3000:]
