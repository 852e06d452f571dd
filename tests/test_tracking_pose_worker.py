"""The socket-pose fits run off the sample thread (a child process): the per-sample
decode cost stays flat across the end of the settle time and the pose updates, the new
pose arrives and is right, and a dying child falls back to fitting inline."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
from test_server_kit import PushSource

from bridge.decoders.track import TrackDecoder
from bridge.pipeline import Pipeline
from bridge.sim.foreign_patients import Placement
from bridge.tracking.pose_worker import ProcessPoseWorker
from bridge.tracking.socket_pose import PoseResult, PoseSettings, fit_rest_pose
from bridge.tracking.tracker import Tracker, TrackerConfig
from bridge.tracking.twin import Twin
from tests.tracking_cases import SEEDS, later_session, twin_fit

SHIFTED = Placement(shift_mm=5.0, turn_deg=10.0)
WAIT_S = 120.0
"""Generous: the child's fit takes ~0.1-2 s of CPU on a loaded 2-core machine."""


def test_pose_fits_leave_the_sample_thread_flat() -> None:
    fit = twin_fit(SEEDS[0])
    assert fit.twin is not None
    s = later_session(SEEDS[0], SHIFTED)
    # a pose update every 2 s of samples, so one happens within the session
    cfg = TrackerConfig(pose_update_s=2.0)
    worker = ProcessPoseWorker()
    worker.start()  # as TrackDecoder does on the first sample: not a pose fit's cost
    tracker = Tracker(fit.twin, cfg, rate_hz=s.rate_hz, worker=worker)
    cpu, ready, grades = [], [], []
    i = 0
    deadline = time.monotonic() + WAIT_S
    try:
        # the rest samples repeat (a relaxed patient) until the child's pose arrives
        while i < len(s) and time.monotonic() < deadline:
            t0 = time.thread_time()
            est = tracker.decode(s.field_ut[i])
            cpu.append(time.thread_time() - t0)
            ready.append(est.ready)
            grades.append(est.grade)
            if est.ready or s.gesture[i] != "rest":
                i += 1
            else:
                time.sleep(0.001)  # samples arrive over time; the child works meanwhile
                i = min(i + 1, 90)
        # the relaxed patient streams on until a pose update has come back
        while tracker.pose_updates < 2 and time.monotonic() < deadline:
            t0 = time.thread_time()
            tracker.decode(s.field_ut[-1])
            cpu.append(time.thread_time() - t0)
            time.sleep(0.001)
        worker_problem = tracker.worker.problem  # type: ignore[attr-defined]
    finally:
        tracker.worker.close()
    assert i == len(s), "the pose never arrived"
    assert worker_problem is None
    assert tracker.pose_updates >= 2  # the rest pose and at least one update
    times = np.array(cpu)
    # the same rest-pose fit inline, timed here: a sample that paid for a fit would take
    # at least that long; a submit (pickling the job, ~0.5 ms) or a swap takes a few ms
    # at most (the decode itself: ~0.03 ms)
    t0 = time.thread_time()
    fit_rest_pose(fit.twin, tracker.pose_settings(), s.field_ut[:90].mean(axis=0)[None])
    fit_cpu = time.thread_time() - t0
    assert times.max() < fit_cpu / 10, (times.max(), fit_cpu)
    # the pose from the child is the re-donned socket's, and the grades follow
    assert abs(np.degrees(tracker.pose[0]) + 10.0) < 1.0
    assert abs(tracker.pose[3] + 5.0) < 0.5
    n_ready = int(np.sum(ready))
    err = np.abs(np.array(grades)[np.array(ready)] - s.grade_true[len(s) - n_ready :])
    assert err.mean() <= 0.30


def _result(worker: ProcessPoseWorker) -> Any:
    """The worker's next answer, waiting up to WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = worker.poll()
        if got is not None:
            return got
        time.sleep(0.01)
    raise AssertionError("the worker never answered")


def _fit_only_in_parent(
    parent: int, twin: Twin, settings: PoseSettings, fields: np.ndarray
) -> PoseResult:
    if os.getpid() != parent:
        os._exit(3)  # the worker process dies mid-job
    return fit_rest_pose(twin, settings, fields)


def test_a_dead_worker_process_falls_back_to_inline() -> None:
    fit = twin_fit(SEEDS[0])
    assert fit.twin is not None
    s = later_session(SEEDS[0], Placement())
    settings = PoseSettings(True, 64, 0.4, 1.5, 0.5)
    worker = ProcessPoseWorker()
    try:
        worker.submit((_fit_only_in_parent, (os.getpid(), fit.twin, settings, s.field_ut[:50])))
        result = _result(worker)
    finally:
        worker.close()
    assert result is not None
    assert worker.problem is not None and "fitting inline" in worker.problem
    assert result.residual_ut < 1.5


def _child_pids() -> set[int]:
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            pids.update(int(p) for p in f.read().split())
    return pids


def test_the_pipeline_starts_the_pose_worker_before_the_first_sample(tmp_path: Path) -> None:
    """The child's start-up (a new interpreter importing numpy and scipy) must not land on
    the first samples of a live stream: the pipeline starts it when it starts, before any
    sample (and not when it is only built)."""
    fit = twin_fit(SEEDS[0])
    assert fit.twin is not None
    path = fit.twin.save(tmp_path / "twin.json")
    source = PushSource(n_sensors=fit.twin.n_sensors, rate_hz=1000.0)
    decoder = TrackDecoder.load(str(path), source.info)
    before = _child_pids()
    pipeline = Pipeline(source, decoder, [])
    assert not _child_pids() - before, "a pipeline that never starts must not spawn"
    pipeline.start()
    try:
        new = _child_pids() - before
        assert new, "no pose worker process started with the stream"
        assert pipeline.samples == 0
    finally:
        pipeline.close()
        decoder.close()


def _echo(x: int) -> int:
    return x


def test_ctrl_c_in_the_terminal_leaves_the_worker_process_alone() -> None:
    """Ctrl-C reaches the whole process group; the child ignores it (the bridge ends it
    itself) instead of dying with a traceback and sending later fits inline."""
    worker = ProcessPoseWorker()
    try:
        worker.submit((_echo, (1,)))  # type: ignore[arg-type]
        assert _result(worker) == 1  # the child is up and serving
        os.kill(worker._proc.pid, signal.SIGINT)
        time.sleep(0.3)
        worker.submit((_echo, (2,)))  # type: ignore[arg-type]
        assert _result(worker) == 2
        assert worker.problem is None, worker.problem
        assert worker._proc.is_alive()
    finally:
        worker.close()
