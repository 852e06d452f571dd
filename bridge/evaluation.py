"""Offline evaluation of gesture decoders: the paper's Table 2, confusion matrix, plots.

Table 2 (paper): per movement (I wrist extension/flexion, II clenching = `fingers`,
III thumb extension/flexion) the accuracy of the estimated gesture type and the error of
the estimated grade. Here, per decoder:

- type accuracy "moving": samples of that movement's cue whose true grade >= 1 (the
  movement is under way; at the open pose all movements give the same field);
- type accuracy "all": every sample of the cue against the type label (the cue, or
  `rest` where the derived grade is below 0.5);
- grade MAE / RMSE in grades and in degrees (180 degrees = 8 grades) against the ground
  truth when the recording has it (simulator) and against the derived labels (paper).

A decoder without type detection (QG, switched by hand) gets the cue as its type and its
type columns read "manual".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bridge.decoders.factory import open_decoder
from bridge.decoders.linear import LINEAR_FILE, LinearModel
from bridge.decoders.mcnn import McnnDecoder, read_bundle_meta
from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_fit import fit_calibration
from bridge.json_io import write_json_atomic
from bridge.signal.labels import LabelParams
from bridge.signal.metrics import MOVEMENTS, Predictions, evaluate
from bridge.sim.calibration_run import record_guided_calibration
from bridge.sim.tags import MOVEMENTS as SIM_MOVEMENTS
from bridge.sim.url import is_sim_url, parse_sim_url
from bridge.training.dataset import CLASSES, load_labelled
from bridge.values.sample import DEGREES_PER_GRADE, Sample
from bridge.values.source_info import SourceInfo


def _pct(x: float | None, manual: bool = False) -> str:
    if manual:
        return "manual"
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}%"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None or not math.isfinite(x) else fmt.format(x)


def _table_row(title: str, m: dict[str, Any], manual: bool) -> str:
    gt, gl = m["grade_truth"], m["grade_labels"]
    cells = [
        title,
        str(m["n"]),
        _pct(m["type_acc_moving"], manual),
        _pct(m["type_acc_all"], manual),
        _num(gt["mae"]),
        _num(gt["rmse"]),
        _num(gt["mae_deg"], "{:.2f}"),
        _num(gt["rmse_deg"], "{:.2f}"),
        _num(gl["mae"]),
    ]
    return "| " + " | ".join(cells) + " |"


def table2_markdown(results: list[dict[str, Any]], title: str = "") -> str:
    """Markdown: one Table 2 per decoder, then a side-by-side summary and confusion matrices."""
    lines: list[str] = []
    if title:
        lines += [f"# {title}", ""]
    for r in results:
        manual = not r["detects_type"]
        lines += [
            f"## {r['decoder']}",
            "",
            f"Grade error against the {r['truth']}; 1 grade = {DEGREES_PER_GRADE:g} degrees.",
            "",
            "| Movement | samples | type acc (grade >= 1) | type acc (all) | MAE grade "
            "| RMSE grade | MAE deg | RMSE deg | MAE vs labels |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, _title in MOVEMENTS:
            m = r["movements"][name]
            lines.append(_table_row(m["title"], m, manual))
        lines.append(_table_row("all movements", r["overall"], manual))
        if r["rest"]["n"]:
            acc = _pct(r["rest"]["type_acc"], manual)
            lines.append(f"| rest (cue) | {r['rest']['n']} | {acc} (as rest) | | | | | | |")
        lines.append("")
    if len(results) > 1:
        names = [r["decoder"] for r in results]
        lines += [
            "## Side by side (type accuracy where grade >= 1 / grade MAE in grades)",
            "",
            "| Movement | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for name, title in MOVEMENTS:
            cells = []
            for r in results:
                m = r["movements"][name]
                acc = _pct(m["type_acc_moving"], not r["detects_type"])
                cells.append(f"{acc} / {_num(m['grade_truth']['mae'])}")
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
        lines.append("")
    for r in results:
        if not r["detects_type"]:
            continue
        c = r["confusion"]
        cls = c["classes"]
        lines += [
            f"### Confusion matrix, {r['decoder']} (rows true label, columns predicted)",
            "",
            "| true \\ pred | " + " | ".join(cls) + " |",
            "|---|" + "---:|" * len(cls),
        ]
        for name, row in zip(cls, c["rows_true_cols_pred"], strict=True):
            lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    return "\n".join(lines)


def save_json(path: str | Path, data: Any) -> None:
    """Write `data` as strict JSON (NaN -> null), atomically."""
    write_json_atomic(path, data)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(path: str | Path, result: dict[str, Any]) -> None:
    """Row-normalised confusion matrix heat map with counts."""
    plt = _pyplot()
    c = result["confusion"]
    m = np.asarray(c["rows_true_cols_pred"], dtype=np.float64)
    cls = c["classes"]
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(cls)):
        for j in range(len(cls)):
            ax.text(
                j,
                i,
                f"{int(m[i, j])}",
                ha="center",
                va="center",
                color="black" if norm[i, j] < 0.6 else "white",
                fontsize=8,
            )
    ax.set_xticks(range(len(cls)), cls)
    ax.set_yticks(range(len(cls)), cls)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true label")
    ax.set_title(f"{result['decoder']}: gesture type")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _shade_cues(ax: Any, t: np.ndarray, cues: np.ndarray) -> None:
    colours = {"fingers": "#fde2c8", "wrist": "#d8ecd0", "thumb": "#dcd6f0"}
    i = 0
    n = len(cues)
    while i < n:
        j = i
        while j < n and cues[j] == cues[i]:
            j += 1
        col = colours.get(str(cues[i]))
        if col:
            ax.axvspan(t[i], t[min(j, n - 1)], color=col, lw=0)
        i = j


def plot_grade_timeline(
    path: str | Path,
    t: np.ndarray,
    cues: np.ndarray,
    truth: np.ndarray,
    preds: list[Predictions],
    max_seconds: float | None = 60.0,
) -> None:
    """Predicted vs true grade over time, one panel per decoder (cue shaded)."""
    plt = _pyplot()
    sel = np.ones(t.shape[0], dtype=bool)
    if max_seconds is not None and t.shape[0]:
        # A window per movement keeps strokes readable: the first max_seconds/3 of each.
        sel[:] = False
        per = max_seconds / 3.0
        for name, _ in MOVEMENTS:
            idx = np.flatnonzero(cues == name)
            if idx.size:
                sel[idx[t[idx] - t[idx[0]] <= per]] = True
    idx = np.flatnonzero(sel)
    fig, axes = plt.subplots(
        len(preds), 1, figsize=(10, 2.2 * len(preds) + 0.4), dpi=100, sharex=True, squeeze=False
    )
    xs = np.arange(idx.size, dtype=np.float64)  # sample index: windows are concatenated
    for ax, p in zip(axes[:, 0], preds, strict=True):
        _shade_cues(ax, xs, cues[idx])
        ax.plot(xs, truth[idx], color="black", lw=1.2, label="true grade")
        ax.plot(xs, p.grade[idx], color="tab:red", lw=0.9, alpha=0.85, label=f"{p.name} grade")
        ax.set_ylim(-0.5, 8.5)
        ax.set_ylabel("grade")
        ax.set_title(p.name, fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel(
        "sample (first part of each movement; shading: orange fingers, green wrist, violet thumb)"
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_labels(
    path: str | Path,
    t: np.ndarray,
    mags: np.ndarray,
    cues: Sequence[str],
    grade: np.ndarray,
    grade_true: np.ndarray | None,
    segments: Sequence[Any],
    max_seconds: float = 40.0,
) -> None:
    """The labelling figure: chosen sensor's |B| with its extrema, derived vs true grade."""
    plt = _pyplot()
    shown = []
    seen: set[str] = set()
    for s in segments:  # the first labelled segment of each movement
        if s.sensor is not None and s.cue not in seen:
            seen.add(s.cue)
            shown.append(s)
    if not shown:
        shown = list(segments)[:1]
    fig, axes = plt.subplots(2, len(shown), figsize=(4.2 * len(shown), 5.2), dpi=100, squeeze=False)
    for col, seg in enumerate(shown):
        a = seg.start
        b = seg.stop
        tt = t[a:b] - t[a]
        keep = tt <= max_seconds
        ax = axes[0, col]
        if seg.sensor is not None:
            ax.plot(tt[keep], mags[a:b, seg.sensor][keep], lw=0.9)
            ex = [i for i in seg.extrema if a <= i < b and t[i] - t[a] <= max_seconds]
            ax.plot(t[ex] - t[a], mags[ex, seg.sensor], "o", ms=4, color="tab:red", label="extrema")
            sign = "rises" if seg.rises_with_flexion else "falls"
            ax.set_title(f"{seg.cue}: sensor {seg.sensor} (|B| {sign} with flexion)", fontsize=9)
            ax.legend(fontsize=7)
        ax.set_ylabel("|B| (uT)")
        ax2 = axes[1, col]
        if grade_true is not None and np.isfinite(grade_true[a:b]).any():
            ax2.plot(tt[keep], grade_true[a:b][keep], color="black", lw=1.2, label="grade_true")
        ax2.plot(
            tt[keep], grade[a:b][keep], color="tab:orange", lw=1.0, label="derived (half cosine)"
        )
        ax2.set_ylim(-0.5, 8.5)
        ax2.set_xlabel("time in segment (s)")
        ax2.set_ylabel("grade")
        ax2.legend(fontsize=7)
    del cues
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def qg_predictions(
    decoder: Any, field_ut: np.ndarray, t_s: np.ndarray, cues: np.ndarray, name: str = "qg"
) -> Predictions:
    """Run a QG bank sample by sample, switching its gesture to the cue (the paper's manual
    switch). Rest samples keep the last gesture. The bank is stateful (hysteresis), so it
    sees the whole recording in order even when only a part is scored."""

    n = field_ut.shape[0]
    gest = np.empty(n, dtype=object)
    level = np.zeros(n)
    conf = np.zeros(n)
    have = set(getattr(decoder, "gestures", ()))
    current = ""
    for i in range(n):
        cue = str(cues[i])
        if cue != current and cue in have:
            decoder.set_gesture(cue)
            current = cue
        d = decoder.decode(Sample.from_field(i, float(t_s[i]), 0.0, field_ut[i]))
        gest[i] = cue if cue in have else "rest"
        level[i] = d.level
        conf[i] = d.confidence
    return Predictions(name, gest, level, conf, detects_type=False)


def recording_args(
    pred: Predictions, rec: Any, mask: np.ndarray, classes: Sequence[str]
) -> tuple[Predictions, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Sequence[str]]:
    """Arguments of `evaluate` for predictions over a whole LabelledRecording."""
    cues = np.asarray(rec.cues, dtype=object)
    type_labels = np.asarray(rec.labels.gesture, dtype=object)
    return pred, cues, type_labels, rec.labels.grade, rec.grade_true, mask, classes


def qg_for_recording(meta: dict[str, Any], info: Any, qg: str | None) -> tuple[Any | None, str]:
    """The QG bank to compare with: from a calibration file, or calibrated on the
    simulated patient of a sim recording (band at its nominal place: the calibration a
    clinician would have made before the band moved). Returns (bank or None, note)."""

    if qg:
        return QGBank.load(qg, info), f"QG from {Path(qg).name}"
    src = str(meta.get("source") or "")
    if not is_sim_url(src):
        return None, "QG skipped (not a simulated recording; pass --qg CAL.json)"

    cfg = parse_sim_url(src).config().replace(shift_mm=0.0, rotation_deg=0.0)
    cal = fit_calibration(*record_guided_calibration(cfg, SIM_MOVEMENTS))
    return QGBank(cal), "QG calibrated on the simulated patient (band at its nominal place)"


def run_evaluation(
    model_dir: str | Path,
    recording: str | Path,
    out_dir: str | Path | None = None,
    *,
    qg: str | None = None,
    with_qg: bool = True,
    with_linear: bool = True,
    part: str = "auto",
    log: Any = None,
) -> dict[str, Any]:
    """Table 2 for MCNN-TG (+ linear, + QG) on one recording; files written to `out_dir`.

    `part`: "test" (last 20% of each cue), "all", or "auto" = "test" when the recording
    is one the model was trained on (its sha256 is in model.json), else "all".
    Returns {"results": [...], "markdown": str, "part": str, "notes": [...], "files": [...]}.
    """

    say = log or (lambda _m: None)
    meta = read_bundle_meta(model_dir)
    lp = meta.get("training", {}).get("label_params") or {}
    params = LabelParams(**{k: v for k, v in lp.items() if k in LabelParams.__dataclass_fields__})
    rec = load_labelled(recording, params)
    info_layout = rec.meta.get("layout")

    info = SourceInfo(
        n_sensors=rec.n_sensors, rate_hz=rec.rate_hz, layout=info_layout, source=str(recording)
    )
    dec = McnnDecoder.load(model_dir, info)
    trained_on = {r.get("sha256") for r in meta.get("training", {}).get("recordings", [])}
    if part == "auto":
        part = "test" if rec.sha256 in trained_on else "all"
    if part not in ("test", "all"):
        raise ValueError(f"part must be auto, test or all, not {part!r}")
    if part == "all" and rec.sha256 in trained_on:
        say("warning: this recording trained the model; --part all scores training samples")
    cues = np.asarray(rec.cues, dtype=object)
    mask = rec.part_mask(part) & (cues != "")  # type: ignore[arg-type]
    notes = [f"part: {'held-out last 20% of each cue' if part == 'test' else 'whole recording'}"]
    preds: list[Predictions] = []
    g, lv, cf = dec.decode_batch(rec.mags)
    preds.append(Predictions("MCNN-TG", g, lv, cf))
    if with_linear:
        lin_path = Path(model_dir) / LINEAR_FILE
        if lin_path.is_file():
            lm = LinearModel.load(lin_path)
            g, lv, cf = lm.decode_batch(rec.mags)
            preds.append(Predictions("linear", g, lv, cf))
        else:
            notes.append(f"linear baseline skipped ({LINEAR_FILE} not in the bundle)")
    if with_qg:
        say("calibrating QG ..." if not qg else f"loading QG calibration {qg} ...")
        bank, note = qg_for_recording(rec.meta, info, qg)
        notes.append(note)
        if bank is not None:
            preds.append(qg_predictions(bank, rec.field_ut, rec.t_s, cues, name="QG"))
    results = [evaluate(*recording_args(p, rec, mask, CLASSES)) for p in preds]
    md = table2_markdown(results, title=f"Table 2 on {Path(recording).name}")
    md += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    out: dict[str, Any] = {
        "results": results,
        "markdown": md,
        "part": part,
        "notes": notes,
        "files": [],
    }
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "table2.md").write_text(md, encoding="utf-8")
        save_json(
            d / "table2.json",
            {
                "model_dir": str(model_dir),
                "recording": str(recording),
                "part": part,
                "notes": notes,
                "results": results,
            },
        )
        plot_confusion(d / "confusion.png", results[0])
        truth = rec.grade_true if np.isfinite(rec.grade_true).any() else rec.labels.grade
        sel = mask
        plot_grade_timeline(
            d / "grade_timeline.png",
            rec.t_s[sel],
            cues[sel],
            truth[sel],
            [
                Predictions(p.name, p.gesture[sel], p.level[sel], p.confidence[sel], p.detects_type)
                for p in preds
            ],
        )
        out["files"] = [
            str(d / f) for f in ("table2.md", "table2.json", "confusion.png", "grade_timeline.png")
        ]
    return out


def decoder_predictions(decoder: Any, rec: Any, name: str) -> Predictions:
    """Run any decoder over a recording sample by sample. A decoder with a manual gesture
    switch (QG) is switched to the cue, as the paper did; others detect the type."""

    if getattr(decoder, "name", "") == "qg":
        cues = np.asarray(rec.cues, dtype=object)
        return qg_predictions(decoder, rec.field_ut, rec.t_s, cues, name=name)
    if hasattr(decoder, "run_offline"):
        decoder.run_offline()  # background work inline: the replay is reproducible
    n = rec.field_ut.shape[0]
    gest = np.empty(n, dtype=object)
    level, conf = np.zeros(n), np.zeros(n)
    for i in range(n):
        d = decoder.decode(Sample.from_field(i, float(rec.t_s[i]), 0.0, rec.field_ut[i]))
        gest[i], level[i], conf[i] = d.gesture, d.level, d.confidence
    return Predictions(name, gest, level, conf)


def run_decoder_evaluation(
    specs: Sequence[str],
    recording: str | Path,
    out_dir: str | Path | None = None,
    *,
    log: Any = None,
) -> dict[str, Any]:
    """Table 2 for decoders given as bridge specs (`qg:`, `mcnn:`, `track:`, `linear:`) on
    a whole recording; files as `run_evaluation`. ValueError for a bad spec or file."""

    say = log or (lambda _m: None)
    rec = load_labelled(recording)
    info = SourceInfo(
        n_sensors=rec.n_sensors,
        rate_hz=rec.rate_hz,
        layout=rec.meta.get("layout"),
        positions_mm=rec.meta.get("positions_mm"),
        source=str(recording),
    )
    cues = np.asarray(rec.cues, dtype=object)
    mask = cues != ""
    preds = []
    for spec in specs:
        say(f"decoding with {spec} ...")
        preds.append(decoder_predictions(open_decoder(spec, info), rec, spec))
    results = [evaluate(*recording_args(p, rec, mask, CLASSES)) for p in preds]
    md = table2_markdown(results, title=f"Table 2 on {Path(recording).name}")
    out: dict[str, Any] = {"results": results, "markdown": md, "part": "all", "files": []}
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "table2.md").write_text(md, encoding="utf-8")
        save_json(
            d / "table2.json",
            {
                "model_dir": None,
                "decoders": list(specs),
                "recording": str(recording),
                "part": "all",
                "notes": [],
                "results": results,
            },
        )
        out["files"] = [str(d / "table2.md"), str(d / "table2.json")]
    return out
