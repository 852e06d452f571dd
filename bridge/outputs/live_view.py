"""Live terminal view of a running bridge (an Output).

On a terminal it redraws one block of lines in place (ANSI) about 8 times a second:
source and state, measured rate, dropped/bad frames, clients, the decoder's sensor
|B|, the grade as a bar, and latency percentiles. When the stream is not a terminal
(a log file, a pipe) it prints one plain line per status update instead.

With a hand attached, the terminal is also a patient-safety control: `r` releases the
hand (opens it slowly and keeps it open), `s` stops it (freeze). Keys are read only
when stdin is a terminal in the foreground, in cbreak mode without echo, polled without
blocking; the terminal settings are restored when the view closes.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import select
import shutil
import sys
import termios
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from bridge.outputs.base import Output
from bridge.values.sample import Decoded, Sample
from bridge.values.status import (
    DecoderStatus,
    HandStatus,
    LatencyReport,
    PipelineStatus,
    SourceReport,
)
from fist_and_ball.protocol_v1 import MAX_GRADE as _MAX_GRADE

HAND_KEYS: dict[str, str] = {"r": "release", "s": "stop"}
"""Live-view key -> hand action (both allowed without authorization)."""

HandCommand = Callable[[str], tuple[bool, str]]
"""Sends one hand action (`release`, `stop`) and returns (accepted, message)."""


class TerminalKeys:
    """Single key presses from a terminal: cbreak mode, no echo, non-blocking reads.

    `open(fd)` returns None when `fd` is not a terminal this process may read (not a
    TTY, or a background job, where reading would stop the process). `close()`
    restores the saved terminal settings (also registered with atexit)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved = termios.tcgetattr(fd)
        mode = termios.tcgetattr(fd)
        mode[3] &= ~(termios.ICANON | termios.ECHO)  # lflags; ISIG stays: Ctrl-C works
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, mode)
        self._closed = False
        atexit.register(self.close)

    @staticmethod
    def open(fd: int) -> TerminalKeys | None:
        if fd < 0 or not os.isatty(fd):
            return None
        try:
            foreground = os.tcgetpgrp(fd)
        except OSError:  # not our controlling terminal: no job control applies
            foreground = os.getpgrp()
        if foreground != os.getpgrp():
            return None
        try:
            return TerminalKeys(fd)
        except (OSError, termios.error):
            return None

    def wait(self, timeout_s: float) -> str:
        """Keys typed within `timeout_s` (returns at the first key; '' when none)."""
        try:
            ready, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.0))
            return os.read(self.fd, 64).decode("utf-8", "replace") if ready else ""
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        atexit.unregister(self.close)


def _stdin_fd() -> int:
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # no stdin, or a test's stand-in
        return -1


def grade_bar(grade: int, width: int = _MAX_GRADE) -> str:
    """`[#####...]`: `grade` of `width` cells filled (grade 0..8 -> 0..8 cells)."""
    g = max(0, min(_MAX_GRADE, int(grade)))
    filled = round(g * width / _MAX_GRADE)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _fmt(v: Any, spec: str = ".2f", unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:{spec}}{unit}"


def _recorder_error(st: PipelineStatus) -> str | None:
    """The `--record` write error in a status, if any."""
    rec = st.recorder
    return rec.error if rec is not None else None


def _latency(st: PipelineStatus) -> LatencyReport:
    server = st.server
    return server.latency if server is not None else LatencyReport()


class LiveView(Output):
    """Terminal status display; `refresh_hz` redraws per second on a TTY."""

    name = "live_view"

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        refresh_hz: float = 8.0,
        server_url: str | None = None,
        tty: bool | None = None,
        hand_command: HandCommand | None = None,
        keys_fd: int | None = None,
    ) -> None:
        """`hand_command` enables the hand keys (HAND_KEYS), read from `keys_fd`
        (default: stdin) only when the view draws on a terminal."""
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.refresh_s = 1.0 / max(0.5, refresh_hz)
        self.server_url = server_url
        self._hand_command = hand_command
        self._keys: TerminalKeys | None = None
        self.key_reply = ""
        if self.tty and hand_command is not None:
            self._keys = TerminalKeys.open(_stdin_fd() if keys_fd is None else keys_fd)
        self._sample: Sample | None = None
        self._decoded: Decoded | None = None
        self._status = PipelineStatus(source=SourceReport(state="starting"))
        self._drawn_lines = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.tty:
            self._thread = threading.Thread(target=self._run, name="bridge-live-view", daemon=True)
            self._thread.start()

    # Output hooks (pipeline thread): store references only, render elsewhere.
    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        self._sample = sample
        if decoded is not None:
            self._decoded = decoded

    def on_status(self, status: PipelineStatus) -> None:
        self._status = status
        if not self.tty:
            self._write(self.render_line() + "\n")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._draw()  # final state stays on screen
            self._write("\n")
        if self._keys is not None:
            self._keys.close()

    @property
    def keys_active(self) -> bool:
        """True when hand keys are being read from a terminal."""
        return self._keys is not None

    def on_key(self, key: str) -> None:
        """Act on one key press (HAND_KEYS); other keys are ignored."""
        action = HAND_KEYS.get(key.lower())
        if action is None or self._hand_command is None:
            return
        try:
            ok, msg = self._hand_command(action)
        except Exception as exc:  # the view must outlive a failing hand
            ok, msg = False, f"hand error: {exc}"
        self.key_reply = f"{action}: {msg}" if ok else f"{action} refused: {msg}"

    # rendering
    def render_lines(self) -> list[str]:
        """The block shown on a terminal."""
        st = self._status
        src, dec, server, hand = st.source, st.decoder, st.server, st.hand
        s, d = self._sample, self._decoded
        lat = _latency(st)
        lines = [
            f"source  {src.url or '?'}  [{src.state}]" + (f"  {src.detail}" if src.detail else ""),
            f"rate    {_fmt(st.rate_hz, '.1f', ' Hz')}   dropped {src.dropped}"
            f"   bad {src.bad_frames}   clients {server.clients if server else 0}"
            + (f"   {self.server_url}" if self.server_url else ""),
            self._signal_line(s, d),
            f"decoder {dec.name or 'none'}"
            + ("" if dec.ready or dec.name is None else " (NOT READY)")
            + (f"   errors {dec.errors}" if dec.errors else "")
            + (f" ({dec.last_error})" if dec.last_error else "")
            + (f"   hand {self._hand_text(hand)}" if hand is not None else "")
            + (f"   RECORDING STOPPED: {rec_error}" if (rec_error := _recorder_error(st)) else ""),
            "latency p50 {}  p99 {}  max {} (bridge-added)".format(
                *(_fmt(v, ".2f", " ms") for v in (lat.p50, lat.p99, lat.max))
            ),
        ]
        if self._keys is not None:
            keys = "  ".join(f"{k} = {a}" for k, a in HAND_KEYS.items())
            lines.append(
                f"keys    {keys} hand" + (f"   {self.key_reply}" if self.key_reply else "")
            )
        return lines

    def render_line(self) -> str:
        """One plain line for non-terminal output."""
        st = self._status
        src, server = st.source, st.server
        d = self._decoded
        grade = f"{d.grade}/{_MAX_GRADE} {d.gesture}" if d is not None else "-"
        lat = _latency(st)
        # In a log the reason matters most when nothing flows (lost device, stalled link).
        why = f" ({src.detail})" if src.detail and (not src.connected or not st.rate_hz) else ""
        return (
            f"[{src.state}]{why} rate {_fmt(st.rate_hz, '.1f')} Hz"
            f" dropped {src.dropped} bad {src.bad_frames}"
            f" clients {server.clients if server else 0} grade {grade}"
            f" latency p50 {_fmt(lat.p50)} p99 {_fmt(lat.p99)} ms"
            + self._decoder_problem(st.decoder)
            + (f"   RECORDING STOPPED: {rec_error}" if (rec_error := _recorder_error(st)) else "")
        )

    @staticmethod
    def _decoder_problem(dec: DecoderStatus) -> str:
        """`  decoder NOT READY  errors N: last reason`, or '' when all is well."""
        text = "" if dec.ready or not dec.name else " (NOT READY)"
        if dec.errors:
            text += f"   errors {dec.errors}"
            if dec.last_error:
                text += f": {dec.last_error}"
        return f"   decoder {dec.name}{text}" if text else ""

    @staticmethod
    def _signal_line(s: Sample | None, d: Decoded | None) -> str:
        if s is None:
            return "signal  waiting for samples"
        if d is None:
            return f"signal  seq {s.seq}   no decoder output"
        idx = d.sensor_index
        if idx is not None and 0 <= idx < len(s.magnitudes):
            b = f"|B| s{idx} {_fmt(float(s.magnitudes[idx]), '8.1f', ' uT')}"
        else:
            b = "|B| -"
        return f"signal  {b}   {grade_bar(d.grade)} {d.grade}/{_MAX_GRADE} {d.gesture}"

    @staticmethod
    def _hand_text(hand: HandStatus) -> str:
        return " ".join(f"{k}={v}" for k, v in list(hand.record.items())[:4])

    def _run(self) -> None:
        if self._keys is None:
            while not self._stop.wait(self.refresh_s):
                self._draw()
            return
        # With keys, wait on the terminal instead of sleeping, so a key acts at once
        # (a stop must not wait for the next redraw).
        deadline = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                self._draw()
                deadline = now + self.refresh_s
            for key in self._keys.wait(min(deadline - now, 0.05)):
                self.on_key(key)
                deadline = 0.0  # show the reply now

    def _draw(self) -> None:
        lines = self.render_lines()
        # Move up over the previous block and clear it, then print the new block in
        # one write so the terminal never shows a half-drawn frame.
        prefix = f"\x1b[{self._drawn_lines}F\x1b[J" if self._drawn_lines else ""
        # Clip to the terminal width: a wrapped line would break the cursor-up count.
        width = max(20, shutil.get_terminal_size((120, 24)).columns - 1)
        self._write(prefix + "\n".join(line[:width] for line in lines) + "\n")
        self._drawn_lines = len(lines)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # closed terminal/pipe: the bridge keeps running
            self._stop.set()
