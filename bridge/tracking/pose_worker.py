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

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
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


def _serve(conn: Any) -> None:
    """The child: run each job received, send back (ok, result or error text)."""
    import bridge.tracking.socket_pose  # noqa: F401  (import before the first job)

    with contextlib.suppress(OSError, AttributeError):
        # background work: on a 2-core machine the bridge's own threads go first
        os.nice(10)
    # Ctrl-C in the terminal reaches the whole process group; the bridge ends this
    # child itself (close, or daemon at exit) instead of it dying with a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args = msg
        try:
            conn.send((True, fn(*args)))
        except Exception as exc:  # reported to the parent, which runs the job inline
            conn.send((False, f"{type(exc).__name__}: {exc}"))


class ProcessPoseWorker:
    """Runs jobs in one spawned child process; the sample thread only submits and polls.

    The child starts (and imports numpy/scipy) at `start()`, which the decoder calls on
    its first sample (the start of the settle time, when nothing is decoded yet); a
    `submit` before that starts it. A reader thread receives the result (the travel
    tables, ~1 MB) so the sample thread never waits on the pipe. The child is a daemon:
    it ends with the bridge, even in the middle of a fit. If it dies or a job fails
    there, that job and every later one run inline (slow samples, but the pose stays
    right) and `problem` says why.
    """

    def __init__(self) -> None:
        self._conn: Any = None
        self._proc: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self._reply: tuple[bool, Any] | None = None
        self._pending = False
        self._job: PoseJob | None = None
        self._inline = InlinePoseWorker()
        self.problem: str | None = None

    def start(self) -> None:
        """Start the child process (once; not after `close`)."""
        if self._proc is not None or self._closed:
            return
        # spawn: forking a process that runs threads (the bridge) can copy held locks
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), name="pose-worker", daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        threading.Thread(target=self._receive, name="pose-worker-reader", daemon=True).start()

    def _receive(self) -> None:
        conn = self._conn
        while True:
            try:
                reply = conn.recv()
            except (EOFError, OSError):
                reply = (False, "the pose worker process ended")
            with self._lock:
                if self._pending:
                    self._reply = reply
            if reply[0] is False and reply[1] == "the pose worker process ended":
                return

    @property
    def busy(self) -> bool:
        return self._pending or self._inline.busy

    def submit(self, job: PoseJob) -> None:
        self.start()
        if self._conn is None:
            self._inline.submit(job)
            return
        self._job = job
        with self._lock:
            self._pending, self._reply = True, None
        try:
            self._conn.send(job)
        except (OSError, ValueError) as exc:  # the child is gone
            self._fall_back(f"{type(exc).__name__}: {exc}")

    def poll(self) -> PoseResult | None:
        if not self._pending:
            return self._inline.poll()
        with self._lock:
            reply = self._reply
            if reply is None:
                return None
            self._pending, self._reply = False, None
        ok, value = reply
        if ok:
            result: PoseResult = value
            return result
        self._fall_back(str(value))
        return self._inline.poll()

    def _fall_back(self, why: str) -> None:
        self.problem = f"pose worker process failed ({why}); fitting inline"
        with self._lock:
            self._pending = False
        self.close()
        if self._job is not None:
            self._inline.submit(self._job)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._pending, self._reply = False, None
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
            conn.close()
        if proc is not None and proc.is_alive():
            proc.terminate()  # a fit in progress is not waited for
