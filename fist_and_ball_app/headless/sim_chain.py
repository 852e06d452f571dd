"""The whole chain for a virtual patient, with no bpy.

virtual patient intent -> simulator -> frame v1 bytes into a pty -> a real
`fist-and-ball bridge` subprocess reading the pty as a serial device -> websocket
-> grade messages back here. Frames are sent in lock-step with the grades, so the
session runs as fast as the chain allows and game time follows the device clock.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.decoders.qg_fit import fit_calibration
from bridge.sim.calibration_run import record_guided_calibration
from bridge.sim.config import SimConfig
from bridge.sim.simulator import SimFrame, Simulator
from fist_and_ball.protocol_v1 import FIELD_CLOSURE


def _die_with_parent() -> None:
    """In the bridge child: get SIGTERM when the runner dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the bridge then outlives a killed runner until its pty closes


class ChainError(RuntimeError):
    """The simulated chain could not be set up or stopped answering."""


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class ChainGrade:
    """One decoded sample as it came back from the bridge."""

    frame: SimFrame
    message: dict[str, Any]

    @property
    def grade(self) -> int:
        return int(self.message["grade"])

    @property
    def closure(self) -> float:
        """The decoded closure 0..1 (the wire's `level` field)."""
        return float(self.message[FIELD_CLOSURE])

    @property
    def gesture(self) -> str:
        return str(self.message["gesture"])


class SimulatedChain:
    """Owns the simulator, the pty pair, the bridge subprocess and a websocket client."""

    def __init__(
        self,
        config: SimConfig,
        *,
        decoder: str = "qg",
        work_dir: Path | None = None,
        startup_timeout_s: float = 30.0,
        reply_timeout_s: float = 15.0,  # generous: a loaded machine, not a dead bridge
    ) -> None:
        self.config = config.replace(cue_script="intent")
        self.sim = Simulator(self.config)
        self.decoder_spec = decoder
        self._tmp = tempfile.TemporaryDirectory(prefix="fistball-chain-")
        self.work_dir = Path(work_dir or self._tmp.name)
        self._startup_timeout = startup_timeout_s
        self._reply_timeout = reply_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._ws: Any = None
        self._stack = contextlib.ExitStack()
        self.hello: dict[str, Any] = {}
        self.port = 0
        self.bridge_log = self.work_dir / "bridge.log"

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> SimulatedChain:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Calibrate (QG), open the pty, start the bridge and connect to it."""
        decoder = self.decoder_spec
        if decoder == "qg":
            cal_path = self.work_dir / "calibration.json"
            fit_calibration(*record_guided_calibration(self.config)).save(cal_path)
            decoder = f"qg:{cal_path}"
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass untouched
        slave_path = os.ttyname(self._slave)
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "fist_and_ball_app.main", "bridge",
            "--source", f"serial:{slave_path}",
            "--decoder", decoder,
            "--port", str(self.port),
            "--quiet",
        ]  # fmt: skip
        with self.bridge_log.open("wb") as log:  # the child keeps its own copy of the fd
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        self._connect()

    def _connect(self) -> None:
        from websockets.sync.client import connect

        deadline = time.monotonic() + self._startup_timeout
        url = f"ws://127.0.0.1:{self.port}"
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise ChainError(f"the bridge exited at start:\n{self._bridge_tail()}")
            try:
                ws = self._stack.enter_context(connect(url, open_timeout=2.0, max_size=2**20))
                self._ws = ws
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise ChainError(
                        f"no bridge at {url} after {self._startup_timeout:.0f} s"
                    ) from exc
                time.sleep(0.1)
        self.hello = self._recv_json(self._startup_timeout)
        if self.hello.get("type") != "hello":
            raise ChainError(f"expected hello from the bridge, got {self.hello!r}")
        self._wait_until_source_open()

    def _wait_until_source_open(self) -> None:
        """Wait for a `status` saying the bridge has opened the pty.

        The bridge listens before its source is open, and opening a serial port
        discards the bytes already waiting in it (pyserial flushes the input): a
        frame sent before that is lost, and a lock-step sender then waits for its
        grade forever. Statuses come about once a second.
        """
        deadline = time.monotonic() + self._startup_timeout
        while True:
            msg = self._recv_json(max(0.01, deadline - time.monotonic()))
            if msg.get("type") == "status" and msg.get("state") == "connected":
                return
            if time.monotonic() > deadline:
                raise ChainError(
                    f"the bridge did not open its source within {self._startup_timeout:.0f} s"
                    f"\n{self._bridge_tail()}"
                )

    def close(self) -> None:
        """Stop the bridge and release the pty; safe to call twice."""
        with contextlib.suppress(Exception):  # the bridge may already be gone
            self._stack.close()
        self._ws = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(5.0)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5.0)
            self._proc = None
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        self._tmp.cleanup()

    # -- one sample --------------------------------------------------------
    def exchange(self, gesture: str, closure: float) -> ChainGrade:
        """Set the patient's intent, emit one frame and wait for its grade."""
        return self.receive(self.send(gesture, closure))

    def send(self, gesture: str, closure: float) -> SimFrame:
        """Set the patient's intent and emit the next frame into the pty."""
        if self._master is None or self._ws is None:
            raise ChainError("the chain is not started")
        self.sim.set_intent(gesture, closure)
        frame = self.sim.step()
        os.write(self._master, self.sim.frame_bytes(frame))
        return frame

    def receive(self, frame: SimFrame) -> ChainGrade:
        """Wait for the grade of a frame sent earlier (frames come back in order)."""
        deadline = time.monotonic() + self._reply_timeout
        while True:
            msg = self._recv_json(max(0.01, deadline - time.monotonic()))
            if msg.get("type") == "grade" and msg.get("seq") == frame.seq:
                return ChainGrade(frame, msg)
            if time.monotonic() > deadline:
                raise ChainError(f"no grade for frame {frame.seq} within {self._reply_timeout} s")

    def _recv_json(self, timeout: float) -> dict[str, Any]:
        try:
            raw = self._ws.recv(timeout=timeout)
        except TimeoutError:
            raise ChainError(self._silence_reason(timeout)) from None
        except Exception as exc:
            raise ChainError(f"lost the bridge: {exc}\n{self._bridge_tail()}") from exc
        msg = json.loads(raw)
        return msg if isinstance(msg, dict) else {}

    def _silence_reason(self, timeout: float) -> str:
        if self._proc is not None and self._proc.poll() is not None:
            return f"the bridge exited:\n{self._bridge_tail()}"
        return f"the bridge sent nothing for {timeout:.1f} s"

    def _bridge_tail(self, lines: int = 15) -> str:
        try:
            text = self.bridge_log.read_text(errors="replace")
        except OSError:
            return "(no bridge log)"
        return "\n".join(text.splitlines()[-lines:])
