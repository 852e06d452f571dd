"""`fist-and-ball train` and `evaluate` end to end on a small simulated recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.recording import RecordingWriter
from bridge.sim.config import SimConfig
from bridge.sim.simulator import Simulator
from fist_and_ball_app.main import main as cli_main

pytest.importorskip("torch")


def write_sim(path: Path, seed: int, **changes) -> None:
    sim = Simulator(SimConfig(layout="socket16", seed=seed, repetitions=3, **changes))
    block = sim.generate_all()
    with RecordingWriter(path, sim.info, sim.n_sensors) as w:
        for f in block.frames():
            w.write(Simulator.to_sample(f, 0.0))


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "train.csv"
    write_sim(rec, seed=11)
    model = tmp_path / "model"
    args = [
        "train",
        str(rec),
        "--out",
        str(model),
        "--epochs",
        "6",
        "--batch",
        "256",
        "--threads",
        "1",
    ]
    assert cli_main(args) == 0
    cap = capsys.readouterr()
    assert "held-out type accuracy" in cap.out
    assert "epoch    6/6" in cap.err  # the progress bar reached the end
    meta = json.loads((model / "model.json").read_text())
    assert meta["metrics"]["mcnn"]["overall"]["n"] > 0
    # an existing bundle is not overwritten silently
    assert cli_main(args) == 2
    assert "--force" in capsys.readouterr().err

    # same recording: scored on its held-out part only
    out = tmp_path / "eval"
    assert cli_main(["evaluate", str(model), str(rec), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| I wrist extension/flexion |" in text and "held-out" in text
    for name in ("table2.md", "table2.json", "confusion.png", "grade_timeline.png"):
        assert (out / name).stat().st_size > 200, name
    table = json.loads((out / "table2.json").read_text())
    assert [r["decoder"] for r in table["results"]] == ["MCNN-TG", "linear", "QG"]
    assert table["part"] == "test"
    qg = table["results"][2]
    assert qg["detects_type"] is False and qg["overall"]["grade_truth"]["mae"] < 1.0

    # another session (band displaced): scored whole
    other = tmp_path / "displaced.csv"
    write_sim(other, seed=12, shift_mm=5.0, rotation_deg=10.0)
    assert cli_main(["evaluate", str(model), str(other), "--no-qg", "--no-linear"]) == 0
    text = capsys.readouterr().out
    assert "whole recording" in text and "## linear" not in text


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "r.csv"
    assert cli_main(["train", str(rec), "--out", str(tmp_path / "m")]) == 2
    assert "not found" in capsys.readouterr().err
    write_sim(rec, seed=13, gestures=("fingers",))
    assert cli_main(["evaluate", str(tmp_path / "no_model"), str(rec)]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli_main(["train", str(rec), "--out", str(tmp_path / "m"), "--split", "1.5"]) == 2
    assert "--split" in capsys.readouterr().err
