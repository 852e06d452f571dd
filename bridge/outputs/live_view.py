"""Live terminal view of a running bridge (an Output).

On a terminal it redraws one block of lines in place (ANSI) about 8 times a second:
source and state, measured rate, dropped/bad frames, clients, the decoder's sensor
|B|, the grade as a bar, and latency percentiles. When the stream is not a terminal
(a log file, a pipe) it prints one plain line per status update instead.
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
from typing import Any, TextIO

from bridge.outputs.base import Output
from bridge.sample import N_GRADES, Decoded, Sample

_MAX_GRADE = N_GRADES - 1


def grade_bar(grade: int, width: int = _MAX_GRADE) -> str:
    """`[#####...]`: `grade` of `width` cells filled (grade 0..8 -> 0..8 cells)."""
    g = max(0, min(_MAX_GRADE, int(grade)))
    filled = round(g * width / _MAX_GRADE)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _fmt(v: Any, spec: str = ".2f", unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:{spec}}{unit}"


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
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.refresh_s = 1.0 / max(0.5, refresh_hz)
        self.server_url = server_url
        self._sample: Sample | None = None
        self._decoded: Decoded | None = None
        self._status: dict[str, Any] = {}
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

    def on_status(self, status: dict[str, Any]) -> None:
        self._status = status
        if not self.tty:
            self._write(self.render_line() + "\n")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._draw()  # final state stays on screen
            self._write("\n")

    # rendering
    def render_lines(self) -> list[str]:
        """The block shown on a terminal."""
        st = self._status
        s, d = self._sample, self._decoded
        lines = [
            f"source  {st.get('source', '?')}  [{st.get('state', 'starting')}]"
            + (f"  {st['detail']}" if st.get("detail") else ""),
            f"rate    {_fmt(st.get('rate_hz'), '.1f', ' Hz')}   dropped {st.get('dropped', 0)}"
            f"   bad {st.get('bad_frames', 0)}   clients {st.get('clients', 0)}"
            + (f"   {self.server_url}" if self.server_url else ""),
            self._signal_line(s, d),
            f"decoder {st.get('decoder') or 'none'}"
            + ("" if st.get("decoder_ready", True) else " (NOT READY)")
            + (f"   errors {st['decode_errors']}" if st.get("decode_errors") else "")
            + (f" ({st['last_decode_error']})" if st.get("last_decode_error") else "")
            + (f"   hand {self._hand_text(st['hand'])}" if st.get("hand") else ""),
            "latency p50 {}  p99 {}  max {} (bridge-added)".format(
                *(
                    _fmt(st.get("latency_ms", {}).get(k), ".2f", " ms")
                    for k in ("p50", "p99", "max")
                )
            ),
        ]
        return lines

    def render_line(self) -> str:
        """One plain line for non-terminal output."""
        st = self._status
        d = self._decoded
        grade = f"{d.grade}/{_MAX_GRADE} {d.gesture}" if d is not None else "-"
        lat = st.get("latency_ms", {})
        state = st.get("state", "?")
        # In a log the reason matters most when nothing flows (lost device, stalled link).
        why = (
            f" ({st['detail']})"
            if st.get("detail") and (state != "connected" or not st.get("rate_hz"))
            else ""
        )
        return (
            f"[{state}]{why} rate {_fmt(st.get('rate_hz'), '.1f')} Hz"
            f" dropped {st.get('dropped', 0)} bad {st.get('bad_frames', 0)}"
            f" clients {st.get('clients', 0)} grade {grade}"
            f" latency p50 {_fmt(lat.get('p50'))} p99 {_fmt(lat.get('p99'))} ms"
            + self._decoder_problem(st)
        )

    @staticmethod
    def _decoder_problem(st: dict[str, Any]) -> str:
        """`  decoder NOT READY  errors N: last reason`, or '' when all is well."""
        text = "" if st.get("decoder_ready", True) or not st.get("decoder") else " (NOT READY)"
        if st.get("decode_errors"):
            text += f"   errors {st['decode_errors']}"
            if st.get("last_decode_error"):
                text += f": {st['last_decode_error']}"
        return f"   decoder {st['decoder']}{text}" if text else ""

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
    def _hand_text(hand: dict[str, Any]) -> str:
        return " ".join(f"{k}={v}" for k, v in list(hand.items())[:4])

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self._draw()

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
