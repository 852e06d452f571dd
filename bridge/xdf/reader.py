"""Reading the KMG stream of an XDF file as a contract-2 `Recording` (with pyxdf).

Any XDF file with a stream of type `KMG` works: ours (`record --format xdf`) or
LabRecorder's capture of `bridge --lsl` (stream `NAME-KMG`). Field channels are the
ones labelled `b{i}_{x,y,z}`; optional `seq` and `grade_true` channels and a
Markers stream `NAME-gesture` carry the labels. `t_s` is the stream's own
timestamps (no clock synchronisation, no dejittering) relative to its first sample.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from bridge.lsl_scope import LSL_EXTRA_HINT
from bridge.recording import FORMAT_NAME, MAX_FIELD_UT, Recording, RecordingError


def _first(d: Any, key: str) -> Any:
    """pyxdf's XML dicts hold every value in a list."""
    if not isinstance(d, dict):
        return None
    v = d.get(key)
    return v[0] if isinstance(v, list) and v else v


def _channel_labels(info: dict[str, Any]) -> list[str]:
    desc = _first(info, "desc")
    channels = _first(desc, "channels")
    items = channels.get("channel", []) if isinstance(channels, dict) else []
    return [str(_first(ch, "label") or "") for ch in items]


def _number(text: Any) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        import pyxdf
    except ImportError:
        raise RecordingError(f"{path}: reading XDF needs pyxdf; {LSL_EXTRA_HINT}") from None
    try:
        streams, _ = pyxdf.load_xdf(
            str(path), synchronize_clocks=False, dejitter_timestamps=False, verbose=False
        )
    except Exception as exc:  # pyxdf raises assorted errors for a broken file
        raise RecordingError(f"{path}: not a readable XDF file ({exc})") from None
    return list(streams)


def _kmg_stream(path: Path, streams: list[dict[str, Any]]) -> dict[str, Any]:
    kmg = [s for s in streams if str(_first(s["info"], "type") or "").upper() == "KMG"]
    if not kmg:
        names = ", ".join(
            f"{_first(s['info'], 'name')} ({_first(s['info'], 'type')})" for s in streams
        )
        raise RecordingError(f"{path}: no stream of type KMG (streams: {names or 'none'})")
    if len(kmg) > 1:
        names = ", ".join(str(_first(s["info"], "name")) for s in kmg)
        raise RecordingError(f"{path}: {len(kmg)} KMG streams ({names}); keep one per file")
    return kmg[0]


def _gestures(streams: list[dict[str, Any]], name: str, stamps: np.ndarray) -> list[str]:
    """Each sample's cue: the latest `NAME-gesture` marker at or before it."""
    marks = next((s for s in streams if _first(s["info"], "name") == f"{name}-gesture"), None)
    if marks is None or len(marks["time_stamps"]) == 0:
        return [""] * len(stamps)
    t = np.asarray(marks["time_stamps"], dtype=np.float64)
    values = [str(v[0]) if len(v) else "" for v in marks["time_series"]]
    idx = np.searchsorted(t, stamps, side="right") - 1
    return [values[i] if i >= 0 else "" for i in idx]


def read_xdf_recording(path: str | os.PathLike[str]) -> Recording:
    """The file's KMG stream as a Recording; RecordingError (one line) when unusable."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    streams = _load(path)
    stream = _kmg_stream(path, streams)
    info = stream["info"]
    name = str(_first(info, "name") or "")
    labels = _channel_labels(info)
    n = 0
    while all(f"b{n}_{a}" in labels for a in "xyz"):
        n += 1
    if not 1 <= n <= 32:
        raise RecordingError(f"{path}: stream {name} has no b0_x,b0_y,b0_z channel labels")
    data = np.asarray(stream["time_series"], dtype=np.float64)
    stamps = np.asarray(stream["time_stamps"], dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise RecordingError(f"{path}: stream {name} holds no samples")
    cols = [labels.index(f"b{i}_{a}") for i in range(n) for a in "xyz"]
    field = data[:, cols].reshape(-1, n, 3)
    finite = field[np.isfinite(field)]
    if finite.size and np.abs(finite).max() > MAX_FIELD_UT:
        raise RecordingError(f"{path}: stream {name} holds fields beyond {MAX_FIELD_UT:g} uT")
    seq = (
        data[:, labels.index("seq")].astype(np.int64)
        if "seq" in labels
        else np.arange(len(stamps), dtype=np.int64)
    )
    grade = (
        data[:, labels.index("grade_true")]
        if "grade_true" in labels
        else np.full(len(stamps), np.nan)
    )
    desc = _first(info, "desc")
    kmg = _first(desc, "kmg") or {}
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "container": "xdf",
        "stream": name,
        "rate_hz": _number(_first(info, "nominal_srate")),
        "n_sensors": n,
        "sensor_model": _first(kmg, "sensor_model") or "LIS3MDL",
        "full_scale_gauss": _number(_first(kmg, "full_scale_gauss")),
        "layout": _first(kmg, "layout") or None,
        "positions_mm": _positions(info, labels, n),
        "source": _first(kmg, "source") or str(path),
        "units": "uT",
    }
    return Recording(
        path=path,
        meta=meta,
        t_s=stamps - stamps[0],
        seq=seq,
        field_ut=field,
        gesture=_gestures(streams, name, stamps),
        grade_true=grade,
    )


def _positions(info: dict[str, Any], labels: list[str], n: int) -> list[list[float]] | None:
    desc = _first(info, "desc")
    channels = _first(desc, "channels")
    items = channels.get("channel", []) if isinstance(channels, dict) else []
    out = []
    for i in range(n):
        ch = items[labels.index(f"b{i}_x")]
        loc = _first(ch, "location")
        try:
            out.append([float(_first(loc, a)) for a in "XYZ"])
        except (TypeError, ValueError):
            return None
    return out
