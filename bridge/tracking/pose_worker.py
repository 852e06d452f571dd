"""Where the socket-pose fits run: inline (offline, deterministic) or in a child process.

The rest-pose fit at the end of the settle time takes ~0.1-1.5 s of CPU and each pose
update ~10-50 ms; on the bridge's sample thread that is a burst of late samples at
1000 Hz. `ProcessPoseWorker` runs them in one spawned child process: a thread would
not do, as the fit is Python-level code that holds the GIL and would stall the sample
thread by up to the interpreter's switch interval (5 ms) per sample. The tracker submits
a job, keeps its old pose, and polls for the result on later samples (a cheap check).

`InlinePoseWorker` runs the job at submit: the result is ready at the next poll, so an
offline run (evaluation, tests, benches) is reproducible sample for sample.
"""

from __future__ import annotations

import multiprocessing
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

from bridge.tracking.socket_pose import PoseResult

PoseJob = tuple[Callable[..., PoseResult], tuple[Any, ...]]
"""A module-level function of socket_pose and its (picklable) arguments."""


class PoseWorker(Protocol):
    """Runs one pose job at a time; the tracker polls for the result."""

    @property
    def busy(self) -> bool:
        """A job was submitted and its result not yet collected."""
        ...

    def submit(self, job: PoseJob) -> None:
        """Start `job` (only when not busy)."""
        ...

    def poll(self) -> PoseResult | None:
        """The finished job's result once (then not busy), else None."""
        ...

    def close(self) -> None:
        """Stop any child; later jobs run inline."""
        ...


class InlinePoseWorker:
    """Runs each job at submit on the caller's thread (reproducible; slow samples)."""

    def __init__(self) -> None:
        self._result: PoseResult | None = None

    @property
    def busy(self) -> bool:
        return self._result is not None

    def submit(self, job: PoseJob) -> None:
        fn, args = job
        self._result = fn(*args)

    def poll(self) -> PoseResult | None:
        out, self._result = self._result, None
        return out

    def close(self) -> None:
        self._result = None


def _warm_up() -> bool:
    """Imports the fitting code in the child before the first real job."""
    import bridge.tracking.socket_pose  # noqa: F401

    return True


class ProcessPoseWorker:
    """Runs jobs in one spawned child process; the sample thread only submits and polls.

    The child starts (and imports numpy/scipy) at construction, which happens when the
    decoder opens, not on a sample. If the child dies, the failed job and every later one
    run inline (slow samples, but the pose stays right) and `problem` says why.
    """

    def __init__(self) -> None:
        # spawn: forking a process that runs threads (the bridge) can copy held locks
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )
        self._pool.submit(_warm_up)
        self._finalizer = weakref.finalize(self, _shutdown, self._pool)
        self._future: Future[PoseResult] | None = None
        self._job: PoseJob | None = None
        self._inline = InlinePoseWorker()
        self.problem: str | None = None

    @property
    def busy(self) -> bool:
        return self._future is not None or self._inline.busy

    def submit(self, job: PoseJob) -> None:
        if self._pool is None:
            self._inline.submit(job)
            return
        fn, args = job
        self._job = job
        try:
            self._future = self._pool.submit(fn, *args)
        except RuntimeError as exc:  # BrokenProcessPool, or shut down
            self._fall_back(exc)

    def poll(self) -> PoseResult | None:
        if self._future is None:
            return self._inline.poll()
        if not self._future.done():
            return None
        future, self._future = self._future, None
        try:
            return future.result()
        except Exception as exc:  # the child died or the job failed there: run it here
            self._fall_back(exc)
            return self._inline.poll()

    def _fall_back(self, exc: BaseException) -> None:
        self.problem = f"pose worker process failed ({type(exc).__name__}: {exc}); fitting inline"
        self.close()
        if self._job is not None:
            self._inline.submit(self._job)

    def close(self) -> None:
        self._future = None
        if self._pool is not None:
            self._finalizer.detach()
            _shutdown(self._pool)
            self._pool = None


def _shutdown(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
