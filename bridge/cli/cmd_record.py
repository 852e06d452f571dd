"""`fist-and-ball record`: record a source to a contract-2 recording (CSV + JSON), XDF, or both."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from bridge.cli.errors import CliError
from bridge.recording import RecordingWriter, check_new_recording, sidecar_path
from bridge.sources import Source, open_source
from bridge.values.sample import Sample
from bridge.xdf.writer import XdfWriter

PROGRESS_INTERVAL_S = 0.25
NO_DATA_GRACE_S = 10.0
PLAIN_PROGRESS_INTERVAL_S = 5.0
"""Without a terminal (logs, pipes) print a plain line this often instead of \\r updates."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "record",
        help="record a KMG source to FILE.csv + FILE.json",
        description="Record KMG samples from a source into a recording (CSV + JSON sidecar). "
        "Stops after --duration seconds of signal, when the source ends, or on Ctrl-C.",
    )
    p.add_argument(
        "--source",
        required=True,
        metavar="URL",
        help="serial:PORT[?baud=N], tcp://HOST:PORT, udp://[HOST]:PORT[?from=HOST[:PORT]], "
        "replay:FILE.csv|FILE.xdf[?speed=1|max], sim:LAYOUT[?options], lsl:NAME",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE.csv|FILE.xdf",
        help="recording to write; the suffix picks the format unless --format says",
    )
    p.add_argument(
        "--format",
        choices=("csv", "xdf", "both"),
        default=None,
        help="csv: FILE.csv + FILE.json (contract 2); xdf: FILE.xdf (needs the lsl extra to "
        "read back); both: all three from the same samples (default: from --out's suffix)",
    )
    p.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="seconds of signal to record (default: until Ctrl-C)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing recording")
    p.set_defaults(func=run)


class _Writers:
    """The CSV and/or XDF writer behind one interface (the same samples go to each)."""

    def __init__(self, writers: list[RecordingWriter | XdfWriter]) -> None:
        self.writers = writers

    @property
    def skipped(self) -> int:
        return self.writers[0].skipped

    @property
    def measured_rate_hz(self) -> float | None:
        return self.writers[0].measured_rate_hz

    def write(self, sample: Sample) -> bool:
        return all([w.write(sample) for w in self.writers])

    def close(self) -> None:
        errors = []
        for w in self.writers:
            try:
                w.close()
            except OSError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


class _Recorder:
    """Runs the source on a worker thread and writes what it yields."""

    def __init__(self, source: Source, outs: list[Path], duration: float | None) -> None:
        self.source = source
        self.outs = outs
        self.duration = duration
        self.stop = threading.Event()
        self.writer: _Writers | None = None
        self.error: str | None = None
        self.rows = 0
        self.skipped = 0
        self.t_s = 0.0
        self.last_row_at: float | None = None
        self.thread = threading.Thread(target=self._run, name="record", daemon=True)

    def _open(self, sample: Sample) -> _Writers:
        writers: list[RecordingWriter | XdfWriter] = []
        try:
            for out in self.outs:
                if out.suffix == ".xdf":
                    writers.append(XdfWriter(out, self.source.info, sample.n_sensors))
                else:
                    writers.append(RecordingWriter(out, self.source.info, sample.n_sensors))
        except BaseException:
            _Writers(writers).close()
            raise
        return _Writers(writers)

    def _run(self) -> None:
        t0: float | None = None
        try:
            for sample in self.source.samples(self.stop):
                if t0 is None:
                    t0 = sample.t_device
                    self.writer = self._open(sample)
                t_s = sample.t_device - t0
                if self.duration is not None and t_s >= self.duration:
                    break
                assert self.writer is not None
                if not self.writer.write(sample):
                    # another sensor count: counted and skipped, the recording goes on
                    self.skipped = self.writer.skipped
                    continue
                self.rows += 1
                self.t_s = t_s
                self.last_row_at = time.monotonic()
        except (OSError, ValueError) as exc:
            self.error = str(exc)
        finally:
            self.stop.set()
            self.source.close()


def _progress(rec: _Recorder, elapsed: float, rate: float) -> str:
    st = rec.source.status
    state = st.state.value if st.state.value == "connected" else st.detail or st.state.value
    return (
        f"{elapsed:6.1f} s  {rec.rows:7d} frames ({rec.t_s:.1f} s of signal)  {rate:6.1f} Hz  "
        f"dropped {st.dropped}  bad {st.bad_frames}"
        + (f"  skipped {rec.skipped} (wrong sensor count)" if rec.skipped else "")
        + f"  {state}"
    )


def _no_data_for_too_long(rec: _Recorder, elapsed: float) -> bool:
    """With --duration, give up when nothing arrived for the duration plus a grace time.

    --duration counts seconds of signal, so a source that never delivers would
    otherwise keep the command waiting forever.
    """
    if rec.duration is None or elapsed < rec.duration + NO_DATA_GRACE_S:
        return False
    st = rec.source.status
    why = st.detail or st.state.value
    if rec.last_row_at is None:
        rec.error = f"no data from the source in {elapsed:.0f} s ({why})"
        return True
    silent = time.monotonic() - rec.last_row_at
    if silent < NO_DATA_GRACE_S:
        return False  # still arriving (a slow replay): --duration counts signal time
    rec.error = (
        f"the source went silent after {rec.t_s:.1f} s of signal, short of "
        f"--duration {rec.duration:g} s; gave up after {silent:.0f} s without data ({why})"
    )
    return True


def _watch(rec: _Recorder, err: TextIO) -> bool:
    """Show progress until the worker ends; return True when interrupted by Ctrl-C."""
    tty = err.isatty()
    last_rows, last_t = 0, time.monotonic()
    start = last_plain = last_t
    rate = 0.0
    width = 0
    try:
        while rec.thread.is_alive():
            rec.thread.join(PROGRESS_INTERVAL_S)
            now = time.monotonic()
            # rate over about a second (steadier than per update); a first guess sooner
            if now - last_t >= 0.9 or rate == 0.0:
                rate = (rec.rows - last_rows) / (now - last_t)
            if now - last_t >= 0.9:
                last_rows, last_t = rec.rows, now
            if _no_data_for_too_long(rec, now - start):
                rec.stop.set()
                rec.thread.join(5.0)
                return False
            line = _progress(rec, now - start, rate)
            if tty:
                width = max(width, len(line))
                err.write("\r" + line.ljust(width))
                err.flush()
            elif now - last_plain >= PLAIN_PROGRESS_INTERVAL_S:
                last_plain = now
                err.write(line + "\n")
                err.flush()
        return False
    except KeyboardInterrupt:
        rec.stop.set()
        rec.thread.join(5.0)
        return True
    finally:
        if tty and width:
            err.write("\n")
            err.flush()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _check_xdf(path: Path, overwrite: bool) -> Path:
    if not path.parent.is_dir():
        raise ValueError(f"--out: folder {path.parent} does not exist")
    if path.is_dir():
        raise ValueError(f"--out: {path} is a folder")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; use --force to overwrite it")
    return path


def _outputs(out: str, fmt: str | None, overwrite: bool) -> list[Path]:
    """The files to write: FILE.csv (+ .json) and/or FILE.xdf, checked before any device."""
    path = Path(out)
    if path.suffix.lower() not in (".csv", ".xdf"):
        raise ValueError(f"--out must name a .csv or .xdf file, got '{path}'")
    fmt = fmt or ("xdf" if path.suffix.lower() == ".xdf" else "csv")
    outs = []
    if fmt in ("csv", "both"):
        outs.append(check_new_recording(path.with_suffix(".csv"), "--out", overwrite=overwrite))
    if fmt in ("xdf", "both"):
        outs.append(_check_xdf(path.with_suffix(".xdf"), overwrite))
    return outs


def _shown(outs: list[Path]) -> str:
    names: list[str] = []
    for p in outs:
        names.append(str(p) if not names else p.name)
        if p.suffix == ".csv":
            names.append(sidecar_path(p).name)
    return " + ".join(names)


def run(args: argparse.Namespace) -> int:
    try:
        outs = _outputs(args.out, args.format, args.force)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    if args.duration is not None and not args.duration > 0:
        raise CliError(f"--duration must be > 0 seconds, got {args.duration}")
    try:
        source = open_source(args.source)
    except ValueError as exc:
        raise CliError(str(exc)) from None

    rec = _Recorder(source, outs, args.duration)
    print(f"recording {source.url} -> {_shown(outs)} (Ctrl-C to stop)", file=sys.stderr)
    # SIGTERM (kill, systemd stop) ends the recording as cleanly as Ctrl-C does
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        rec.thread.start()
        interrupted = _watch(rec, sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if rec.writer is not None:
        try:
            rec.writer.close()
        except OSError as exc:
            rec.error = rec.error or f"writing {_shown(outs)} failed: {exc}"
    st = source.status
    if rec.writer is None:
        if rec.error:
            raise CliError(rec.error)
        raise CliError(f"no frames received from {source.url} ({st.detail or st.state.value})")
    rate = rec.writer.measured_rate_hz
    print(
        f"recorded {rec.rows} frames, {rec.t_s:.2f} s"
        + (f", {rate:.1f} Hz" if rate else "")
        + f" to {_shown(outs)}; dropped {st.dropped}, bad {st.bad_frames}, "
        f"reconnects {st.reconnects}"
        + (f", skipped {rec.skipped} frames with another sensor count" if rec.skipped else "")
        + (" (interrupted)" if interrupted else "")
    )
    if rec.error:
        raise CliError(f"recording stopped early: {rec.error}")
    return 0
