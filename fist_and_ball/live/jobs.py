"""Slow work (reading the history, writing the report) off Blender's main thread. No bpy.

`submit()` runs a function on a short-lived worker thread; its result (or exception)
is handed back through a locked list, the jobs' mailbox, and `deliver()` (called by the
main-thread timer) passes it to the job's `on_done` there. So the main thread never
waits for files and bpy is only touched from `on_done`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class JobResult:
    """What a finished job produced: `value`, or the `error` it raised."""

    name: str
    value: Any = None
    error: BaseException | None = None


Done = Callable[[JobResult], None]


class JobRunner:
    """Worker threads for named jobs; results delivered on the caller's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished: list[tuple[JobResult, Done]] = []
        self._running: dict[int, str] = {}
        self._next = 0

    def submit(self, name: str, fn: Callable[[], Any], on_done: Done) -> None:
        """Run `fn()` on a worker thread; `on_done(result)` runs in a later `deliver()`."""
        with self._lock:
            self._next += 1
            job_id = self._next
            self._running[job_id] = name

        def work() -> None:
            result = JobResult(name)
            try:
                result.value = fn()
            except Exception as exc:  # handed to on_done, which reports it
                result.error = exc
            with self._lock:
                self._running.pop(job_id, None)
                self._finished.append((result, on_done))

        threading.Thread(target=work, name=f"fistball-job-{name}", daemon=True).start()

    @property
    def pending(self) -> list[str]:
        """Names of the jobs not delivered yet (running or finished)."""
        with self._lock:
            return [*self._running.values(), *(r.name for r, _ in self._finished)]

    def deliver(self) -> int:
        """Call `on_done` for every finished job (main thread); returns how many."""
        with self._lock:
            finished, self._finished = self._finished, []
        for result, on_done in finished:
            try:
                on_done(result)
            except Exception as exc:  # one bad callback must not stop the others
                log.error("Fist & Ball: finishing job %s failed: %s", result.name, exc)
        return len(finished)

    def wait(self, timeout: float) -> bool:
        """Block until no job runs (tests, benches, shutdown); True when none does."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.005)
        with self._lock:
            return not self._running
