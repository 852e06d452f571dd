"""Recordings (contract 2): a CSV of samples in microtesla plus a JSON sidecar.

`RecordingWriter` appends rows while a source streams and flushes them at least
every FLUSH_INTERVAL_S, so a crash (even SIGKILL) loses at most the last second;
the sidecar is written first, at open. `read_recording` loads a recording back
with error messages that name the file, the line and the column at fault.

Format choices the contract leaves open (docs/protocol.md repeats them):
- plain comma-separated text, no quoting, `\\n` line ends, UTF-8;
- field values with 4 decimals (0.1 nT, far below one LSB); dead sensors are `nan`
  (the reader also takes an empty field);
- `t_s` is the device clock relative to the first row, 6 decimals;
- an empty `gesture` means no cue, an empty `grade_true` means no ground truth.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

import bridge
from bridge.json_io import json_safe, write_json_atomic
from bridge.values.sample import GESTURES, N_GRADES, Sample
from bridge.values.source_info import SourceInfo

FORMAT_NAME = "kmg-recording"
FORMAT_VERSION = 1
FLUSH_INTERVAL_S = 0.5
"""Rows reach the OS at least this often (the contract asks for once a second)."""

MAX_FIELD_UT = 1e5
"""Largest |field| per axis a reader accepts (0.1 T; magnetometers top out near 5 mT)."""

LABEL_COLUMNS = ("gesture", "grade_true")
_SENSOR_COLUMN = re.compile(r"b(\d+)_([xyz])")


def sensor_columns(n_sensors: int) -> list[str]:
    """`b0_x, b0_y, b0_z, ..., b{n-1}_z`."""
    return [f"b{i}_{axis}" for i in range(n_sensors) for axis in "xyz"]


def recording_columns(n_sensors: int, extra_columns: Sequence[str] = ()) -> list[str]:
    """The full CSV header of a recording with `n_sensors` sensors."""
    return ["t_s", "seq", *sensor_columns(n_sensors), *LABEL_COLUMNS, *extra_columns]


def sidecar_path(csv_path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar beside a recording CSV (same stem)."""
    return Path(csv_path).with_suffix(".json")


def check_new_recording(
    path: str | os.PathLike[str],
    option: str = "--out",
    *,
    overwrite: bool = False,
    exists_hint: str = "use --force to overwrite it",
) -> Path:
    """Check where a new recording will go, before any device is opened.

    `path` must name a `.csv` file in an existing, writable folder and, unless
    `overwrite`, neither it nor its sidecar may exist. Raises ValueError (name,
    folder) or FileExistsError with a one-line message naming `option`; returns the
    path. The folder is probed with a real file: permissions, a read-only mount or a
    pseudo file system all show here, not minutes into a session.
    """
    out = Path(path)
    if out.suffix.lower() != ".csv":
        raise ValueError(
            f"{option} must name a .csv file (the sidecar goes beside it), got '{out}'"
        )
    if not out.parent.is_dir():
        raise ValueError(f"{option}: folder {out.parent} does not exist")
    for p in (out, sidecar_path(out)):
        if p.is_dir():
            raise ValueError(f"{option}: {p} is a folder")
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; {exists_hint}")
    _probe_writable(out.parent, option)
    return out


def _probe_writable(folder: Path, option: str) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-") as probe:
            probe.write(b"x")
            probe.flush()
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ValueError(f"{option}: cannot write in folder {folder} ({why})") from None


def _write_json_quick(path: Path, data: Any) -> None:
    """Atomic (write + rename) but without fsync: for the frequent sidecar updates."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n", "utf-8")
    os.replace(tmp, path)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordingWriter:
    """Appends samples to `path` (CSV) and keeps `path.with_suffix('.json')` beside it.

    Rows are held in memory and written in whole lines by `flush()` (a background
    thread calls it every FLUSH_INTERVAL_S), which then updates the sidecar's `rows`:
    after a crash, even SIGKILL, the sidecar counts the rows the CSV holds.
    A sample with another sensor count is skipped and counted in `skipped`; the
    recording goes on. Not safe for writes from several threads at once.
    Overwrites existing files: refusing is the caller's policy.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        info: SourceInfo,
        n_sensors: int,
        *,
        extra_columns: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.sidecar = sidecar_path(self.path)
        if self.sidecar == self.path:
            raise ValueError(
                f"{self.path}: a recording must not be named .json (that is the sidecar)"
            )
        if not 1 <= n_sensors <= 32:
            raise ValueError(f"a recording holds 1..32 sensors, got {n_sensors}")
        standard = set(recording_columns(n_sensors))
        for name in extra_columns:
            if not name or any(c in name for c in ',\n\r"') or name in standard:
                raise ValueError(f"bad extra column name {name!r}")
        if len(set(extra_columns)) != len(extra_columns):
            raise ValueError(f"extra columns repeat a name: {list(extra_columns)}")
        self.n_sensors = n_sensors
        self.extra_columns = tuple(extra_columns)
        self.columns = recording_columns(n_sensors, self.extra_columns)
        self.rows = 0
        self.skipped = 0
        self._flushed_rows = 0
        self._pending: list[str] = []
        self._t0: float | None = None
        self._t_last = 0.0
        self.meta: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "rate_hz": info.rate_hz,
            "n_sensors": n_sensors,
            "sensor_model": info.sensor_model,
            "full_scale_gauss": info.full_scale_gauss,
            "layout": info.layout,
            "positions_mm": json_safe(info.positions_mm),
            "source": info.source,
            "created_at": _utc_now(),
            "software_version": bridge.__version__,
            "units": "uT",
            "dead_sensor_value": "nan",
            "columns": self.columns,
            "rows": 0,
            "complete": False,
        }
        # the sidecar goes first so that even a recording killed at once has it
        write_json_atomic(self.sidecar, self.meta)
        # unbuffered: only flush() writes, in whole rows, so the sidecar's count
        # never trails rows that a full buffer pushed out on its own
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        self._write_all((",".join(self.columns) + "\n").encode("utf-8"))
        self._lock = threading.Lock()
        self._closed = False
        self._error: OSError | None = None
        self._stop_flusher = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, name=f"flush {self.path.name}", daemon=True
        )
        self._flusher.start()

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._file.write(view)
            view = view[n or 0 :]

    def write(self, sample: Sample, extra: Mapping[str, float] | None = None) -> bool:
        """Append one row; `extra` (or else `sample.extra`) fills the extra columns.

        Returns False (and counts it in `skipped`) for a sample with another sensor
        count: one odd frame must not end the recording. Raises OSError when an
        earlier flush failed (disk full, medium gone).
        """
        if sample.n_sensors != self.n_sensors:
            self.skipped += 1
            self.meta["skipped_wrong_shape"] = self.skipped
            return False
        if self._t0 is None:
            self._t0 = sample.t_device
        t_s = sample.t_device - self._t0
        values = ",".join(
            "nan" if v != v else f"{v:.4f}" for v in sample.field_ut.reshape(-1).tolist()
        )
        gesture = sample.gesture or ""
        if any(c in gesture for c in ',\n\r"'):
            raise ValueError(f"gesture label {gesture!r} cannot be written to a CSV field")
        grade = sample.grade_true
        grade_text = "" if grade is None or grade != grade else f"{grade:.6g}"
        line = f"{t_s:.6f},{sample.seq},{values},{gesture},{grade_text}"
        if self.extra_columns:
            source = extra if extra is not None else sample.extra
            parts = []
            for name in self.extra_columns:
                v = source.get(name)
                parts.append("" if v is None else f"{float(v):.6g}")
            line += "," + ",".join(parts)
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._closed:
                raise ValueError(f"{self.path}: recording already closed")
            self._pending.append(line + "\n")
        self.rows += 1
        self._t_last = t_s
        return True

    def flush(self) -> None:
        """Write pending rows to the OS now, then the sidecar's row count.

        The background thread does this every FLUSH_INTERVAL_S anyway.
        """
        with self._lock:
            if self._error is not None:
                raise self._error
            if not self._closed and self._pending:
                self._flush_locked()

    def _flush_locked(self) -> None:
        lines, self._pending = self._pending, []
        try:
            self._write_all("".join(lines).encode("utf-8"))
        except OSError as exc:
            self._error = exc
            raise
        self._flushed_rows += len(lines)
        self.meta["rows"] = self._flushed_rows
        # no fsync here (close() has one): the count must survive a killed process,
        # and the time between the two writes stays a few microseconds
        _write_json_quick(self.sidecar, self.meta)

    def _flush_loop(self) -> None:
        while not self._stop_flusher.wait(FLUSH_INTERVAL_S):
            try:
                self.flush()
            except OSError as exc:  # disk full, medium gone: surface on the next write
                self._error = exc
                return

    @property
    def error(self) -> OSError | None:
        """The write error that stopped this recording, if any."""
        return self._error

    @property
    def measured_rate_hz(self) -> float | None:
        """Rows per second of device time so far (None before two rows)."""
        if self.rows < 2 or self._t_last <= 0:
            return None
        return (self.rows - 1) / self._t_last

    def close(self) -> None:
        """Flush, sync and close; complete the sidecar with the row count and rate."""
        if self._closed:
            return
        self._stop_flusher.set()
        self._flusher.join()
        with self._lock:
            self._closed = True
            try:
                if self._pending and self._error is None:
                    self._flush_locked()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
        rate = self.measured_rate_hz
        self.meta.update(
            rows=self._flushed_rows,
            complete=self._error is None,
            duration_s=round(self._t_last, 6),
            measured_rate_hz=None if rate is None else round(rate, 3),
            ended_at=_utc_now(),
        )
        if self.meta["rate_hz"] is None and rate is not None:
            self.meta["rate_hz"] = round(rate, 3)
        write_json_atomic(self.sidecar, self.meta)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RecordingError(ValueError):
    """A recording that cannot be read; the message names the file, line and column."""


@dataclass
class Recording:
    """A recording loaded into arrays (N rows, n sensors)."""

    path: Path
    meta: dict[str, Any]
    t_s: np.ndarray
    seq: np.ndarray
    field_ut: np.ndarray
    gesture: list[str]
    grade_true: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    """Extra columns, parsed as floats where possible (NaN otherwise)."""
    warnings: list[str] = field(default_factory=list)
    """Problems that were tolerated, e.g. a last line cut off by a crash."""

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def n_sensors(self) -> int:
        return int(self.field_ut.shape[1])

    @property
    def magnitudes(self) -> np.ndarray:
        """|B| per row and sensor, shape (N, n); NaN for dead sensors."""
        return np.sqrt(np.einsum("ijk,ijk->ij", self.field_ut, self.field_ut))

    @property
    def rate_hz(self) -> float | None:
        """The sidecar's rate, else the rate measured from t_s."""
        rate = self.meta.get("rate_hz")
        if isinstance(rate, int | float) and rate > 0:
            return float(rate)
        if len(self) >= 2 and self.t_s[-1] > self.t_s[0]:
            return float((len(self) - 1) / (self.t_s[-1] - self.t_s[0]))
        return None

    def source_info(self, source: str = "") -> SourceInfo:
        """The sidecar as a SourceInfo (for replaying or re-recording)."""
        m = self.meta
        return SourceInfo(
            n_sensors=self.n_sensors,
            rate_hz=self.rate_hz,
            layout=m.get("layout"),
            sensor_model=str(m.get("sensor_model") or "LIS3MDL"),
            full_scale_gauss=m.get("full_scale_gauss"),
            positions_mm=m.get("positions_mm"),
            source=source or str(m.get("source") or ""),
        )


def _read_sidecar(side: Path) -> dict[str, Any]:
    if not side.exists():
        raise RecordingError(f"{side} missing: every recording needs its sidecar")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{side} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{side}: cannot read ({exc})") from None
    if not isinstance(meta, dict):
        raise RecordingError(f"{side}: expected a JSON object")
    n = meta.get("n_sensors")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 32:
        raise RecordingError(f"{side}: n_sensors must be an integer 1..32, got {n!r}")
    for key in ("rate_hz", "full_scale_gauss"):
        v = meta.get(key)
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if v is not None and not (number and math.isfinite(v) and v > 0):
            raise RecordingError(f"{side}: {key} must be a positive number or null, got {v!r}")
    return meta


def _parse_header(path: Path, header: list[str]) -> tuple[int, int, int]:
    """Validate the header; return (n_sensors, gesture index, grade_true index)."""
    shown = ",".join(header[:5])
    if header[:2] != ["t_s", "seq"]:
        raise RecordingError(
            f"{path} line 1: the header must start with t_s,seq,b0_x,... (got '{shown}')"
        )
    n = 0
    while header[2 + 3 * n : 5 + 3 * n] == [f"b{n}_x", f"b{n}_y", f"b{n}_z"]:
        n += 1
    if n == 0:
        raise RecordingError(f"{path} line 1: no sensor columns b0_x,b0_y,b0_z after t_s,seq")
    rest = header[2 + 3 * n :]
    for name in rest:
        if _SENSOR_COLUMN.fullmatch(name):
            raise RecordingError(
                f"{path} line 1: column {name} is out of place (sensor columns must be "
                f"b0_x,b0_y,b0_z,b1_x,... without gaps)"
            )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise RecordingError(f"{path} line 1: column {name!r} appears twice")
        seen.add(name)
    for name in LABEL_COLUMNS:
        if name not in seen:
            raise RecordingError(f"{path} line 1: missing column {name!r}")
    return n, header.index("gesture"), header.index("grade_true")


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Load a recording (CSV path, or its sidecar's path) and check it against contract 2."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        path = path.with_suffix(".csv")
    if not path.exists():
        raise RecordingError(f"{path}: no such file")
    side = sidecar_path(path)
    meta = _read_sidecar(side)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    warnings: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] != "":
        # the writer ends every row with \n: a missing one means the process died mid-row
        warnings.append(
            f"{path} line {len(lines)}: incomplete last line dropped (the recording was cut off)"
        )
    lines.pop()
    if not lines or not lines[0].strip():
        raise RecordingError(f"{path}: empty file, expected the header t_s,seq,b0_x,...")
    header = lines[0].rstrip("\r").split(",")
    n, gi, yi = _parse_header(path, header)
    if meta["n_sensors"] != n:
        raise RecordingError(
            f"{side} says n_sensors={meta['n_sensors']} but the header of {path} has {n} sensors"
        )
    ncol = len(header)
    nval = 3 * n
    extra_idx = [(i, name) for i, name in enumerate(header) if i >= 2 + nval and i not in (gi, yi)]

    t_list: list[float] = []
    seq_list: list[int] = []
    vals: list[list[float]] = []
    gestures: list[str] = []
    grades: list[float] = []
    extras: dict[str, list[float]] = {name: [] for _, name in extra_idx}
    unknown_gestures: dict[str, int] = {}
    nan = math.nan

    for lineno, raw_line in enumerate(lines[1:], start=2):
        line = raw_line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != ncol:
            raise RecordingError(f"{path} line {lineno}: expected {ncol} columns, got {len(cells)}")

        def bad(
            col: int, what: str, lineno: int = lineno, cells: list[str] = cells
        ) -> RecordingError:
            return RecordingError(
                f"{path} line {lineno}, column {header[col]}: '{cells[col]}' {what}"
            )

        try:
            t = float(cells[0])
        except ValueError:
            raise bad(0, "is not a number") from None
        if not math.isfinite(t):
            raise bad(0, "is not a finite time")
        try:
            s = int(cells[1])
        except ValueError:
            raise bad(1, "is not an integer") from None
        try:
            row = [float(c) if c else nan for c in cells[2 : 2 + nval]]
        except ValueError:
            for col in range(2, 2 + nval):
                try:
                    float(cells[col] or "nan")
                except ValueError:
                    raise bad(col, "is not a number") from None
            raise
        # NaN is a dead sensor; inf or a field no magnetometer reports is corrupt
        # data that would poison a trained model or a JSON message
        if not all(abs(v) <= MAX_FIELD_UT for v in row if v == v):
            col = 2 + next(k for k, v in enumerate(row) if v == v and not abs(v) <= MAX_FIELD_UT)
            raise bad(col, f"is not a plausible field in uT (|B| <= {MAX_FIELD_UT:g})")
        g = cells[gi]
        if g and g not in GESTURES and g not in unknown_gestures:
            unknown_gestures[g] = lineno
        try:
            grade = float(cells[yi]) if cells[yi] else nan
        except ValueError:
            raise bad(yi, "is not a number") from None
        if math.isinf(grade):
            raise bad(yi, "is not a finite grade")
        for i, name in extra_idx:
            try:
                value = float(cells[i]) if cells[i] else nan
            except ValueError:
                value = nan  # unknown columns are not ours to judge
            # masked, never passed on: an inf must not reach a model or a message
            extras[name].append(value if math.isfinite(value) else nan)
        t_list.append(t)
        seq_list.append(s)
        vals.append(row)
        gestures.append(g)
        grades.append(grade)

    for g, lineno in unknown_gestures.items():
        warnings.append(f"{path} line {lineno}: gesture '{g}' is not one of {', '.join(GESTURES)}")
    t_arr = np.asarray(t_list, dtype=np.float64)
    grade_arr = np.asarray(grades, dtype=np.float64)
    outside = np.flatnonzero((grade_arr < 0) | (grade_arr > N_GRADES - 1))
    if outside.size:
        warnings.append(
            f"{path}: grade_true outside 0..{N_GRADES - 1} on {outside.size} rows "
            f"(first value {grade_arr[outside[0]]:g})"
        )
    if t_arr.size > 1 and np.any(np.diff(t_arr) < 0):
        first = int(np.flatnonzero(np.diff(t_arr) < 0)[0])
        warnings.append(f"{path}: t_s goes backwards after data row {first + 1}")
    return Recording(
        path=path,
        meta=meta,
        t_s=t_arr,
        seq=np.asarray(seq_list, dtype=np.int64),
        field_ut=np.asarray(vals, dtype=np.float64).reshape(-1, n, 3),
        gesture=gestures,
        grade_true=grade_arr,
        extra={k: np.asarray(v, dtype=np.float64) for k, v in extras.items()},
        warnings=warnings,
    )
