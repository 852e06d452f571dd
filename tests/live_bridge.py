"""Test helpers: free loopback ports, and a real `fist-and-ball bridge` subprocess
(simulator + QG) on one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nobody uses (TCP; `socket.SOCK_DGRAM` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class BridgeProcess:
    """`python -m fist_and_ball_app.main bridge --source sim:myo3 --port P --quiet [EXTRA...]`
    as a child (`extra`, e.g. ["--hand", "sim"])."""

    def __init__(
        self,
        port: int,
        source: str = "sim:myo3",
        python: str = sys.executable,
        extra: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.source = source
        self.python = python
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            self.python, "-m", "fist_and_ball_app.main", "bridge",
            "--source", self.source, "--port", str(self.port), "--quiet", *self.extra,
        ]  # fmt: skip

    def start(self, ready_timeout_s: float = 90.0) -> BridgeProcess:
        """Start and wait until the port accepts connections (QG calibrates first)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"bridge exited with {self.proc.returncode}: {err[-2000:]}")
            if port_open(self.port):
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"bridge did not listen on {self.port} within {ready_timeout_s} s")

    def kill(self) -> None:
        """SIGKILL (a crash, not a clean shutdown) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> BridgeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
