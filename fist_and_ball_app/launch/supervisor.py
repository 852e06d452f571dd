"""Run the bridge and Blender together: the bridge first, restarted with backoff if it
dies, and both gone when Blender closes, on Ctrl-C / SIGTERM / SIGHUP, or (Linux) when
the launcher itself is killed (the children get SIGTERM from the kernel)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from bridge.backoff import Backoff

POLL_S = 0.2
TERM_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel send SIGTERM to this child when the launcher dies."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


@dataclass(slots=True)
class SupervisorConfig:
    """How patient the supervisor is with a failing bridge."""

    ready_timeout_s: float = 180.0
    """How long the bridge may take to listen (QG on the simulator calibrates first)."""
    max_restarts: int = 5
    """Quick failures in a row before giving up on the bridge (Blender stays open)."""
    stable_s: float = 60.0
    """A bridge that ran this long before dying counts as a new, first failure."""
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 2.0, 30.0, jitter=0.0))


class LaunchAborted(RuntimeError):
    """The bridge never came up; the message says what it printed last."""


class Supervisor:
    """Owns the two child processes of one `launch`."""

    def __init__(
        self,
        bridge_cmd: Sequence[str],
        blender_cmd: Sequence[str],
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        config: SupervisorConfig | None = None,
        say: Callable[[str], None] = lambda line: print(f"launch: {line}", file=sys.stderr),
    ) -> None:
        self.bridge_cmd = list(bridge_cmd)
        self.blender_cmd = list(blender_cmd)
        self.port = port
        self.env = dict(os.environ if env is None else env)
        self.config = config or SupervisorConfig()
        self.say = say
        self.bridge: subprocess.Popen[bytes] | None = None
        self.blender: subprocess.Popen[bytes] | None = None
        self.bridge_starts = 0
        self.gave_up = False
        self._stop_reason = ""
        self._bridge_t0 = 0.0

    # -- children ---------------------------------------------------------------------
    def _spawn(self, cmd: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        linux = sys.platform.startswith("linux")
        return subprocess.Popen(
            cmd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            # own process group: a Ctrl-C reaches the launcher only, which stops both in order
            start_new_session=True,
            preexec_fn=_die_with_parent if linux else None,
        )

    def _start_bridge(self) -> None:
        self.bridge = self._spawn(self.bridge_cmd, self.env)
        self.bridge_starts += 1
        self._bridge_t0 = time.monotonic()

    def _wait_bridge_ready(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_s
        while not port_open(self.port):
            if self._stop_reason:
                raise LaunchAborted(f"stopped ({self._stop_reason}) before the bridge was ready")
            assert self.bridge is not None
            code = self.bridge.poll()
            if code is not None:
                raise LaunchAborted(f"the bridge exited with code {code} before listening")
            if time.monotonic() > deadline:
                raise LaunchAborted(
                    f"the bridge did not listen on port {self.port} within "
                    f"{self.config.ready_timeout_s:.0f} s"
                )
            time.sleep(POLL_S)

    def blender_env(self) -> dict[str, str]:
        """Blender's environment: without PYTHONPATH / PYTHONHOME, which a Blender built on
        the system Python (Debian's) would honour and then import this checkout's add-on
        (and the venv's modules) instead of the installed one."""
        return {k: v for k, v in self.env.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        """Blender first (it may still talk to the bridge), then the bridge."""
        self._terminate(self.blender)
        self._terminate(self.bridge)

    # -- the loop ---------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self._stop_reason = reason

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.request_stop(signal.Signals(signum).name)

    def _bridge_died(self, code: int) -> float | None:
        """Report a dead bridge; return the delay before restarting it (None: give up)."""
        cfg = self.config
        if time.monotonic() - self._bridge_t0 >= cfg.stable_s:
            cfg.backoff.reset()
        if cfg.backoff.attempt >= cfg.max_restarts:
            self.say(
                f"the bridge exited (code {code}) {cfg.max_restarts + 1} times in a row; not "
                "restarting it. Blender stays open and shows 'disconnected': see the bridge's "
                "messages above, fix the device or profile, then close Blender and launch again"
            )
            self.gave_up = True
            return None
        delay = cfg.backoff.next_delay()
        self.say(
            f"the bridge exited (code {code}); restarting it in {delay:.0f} s "
            f"(attempt {cfg.backoff.attempt} of {cfg.max_restarts})"
        )
        return delay

    def run(self, *, handle_signals: bool = True) -> int:
        """Start the bridge, wait until it listens, start Blender, supervise until Blender
        exits or a stop is requested; stop everything; return Blender's exit code."""
        old: dict[int, object] = {}
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    old[sig] = signal.signal(sig, self._on_signal)
        try:
            self._start_bridge()
            self._wait_bridge_ready()
            self.say(f"bridge listening on ws://127.0.0.1:{self.port}; starting Blender")
            self.blender = self._spawn(self.blender_cmd, self.blender_env())
            return self._supervise()
        finally:
            self.stop_all()
            for sig, handler in old.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]

    def _supervise(self) -> int:
        assert self.blender is not None
        restart_at: float | None = None
        while not self._stop_reason:
            code = self.blender.poll()
            if code is not None:
                self.say(f"Blender closed (code {code}); stopping the bridge")
                return code
            bridge = self.bridge
            if restart_at is None and not self.gave_up and bridge and bridge.poll() is not None:
                delay = self._bridge_died(bridge.returncode)
                restart_at = None if delay is None else time.monotonic() + delay
            if restart_at is not None and time.monotonic() >= restart_at:
                restart_at = None
                self._start_bridge()
                self.say("bridge restarted; the add-on reconnects by itself")
            time.sleep(POLL_S)
        self.say(f"{self._stop_reason}: closing Blender and the bridge")
        return 130 if self._stop_reason == "SIGINT" else 143
