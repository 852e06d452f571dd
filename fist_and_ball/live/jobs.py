"""Slow work (reading the history, writing the report) off Blender's main thread. No bpy.

`submit()` runs a function on a short-lived worker thread; its result (or exception)
is handed back through a locked list, the jobs' mailbox, and `deliver()` (called by the
main-thread timer) passes it to the job's `on_done` there. So the main thread never
waits for files and bpy is only touched from `on_done`.
"""

from __future__ import annotations

import logging
import threading
import time
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
        self._paused = 0  # nested pauses count
        self._held: list[threading.Thread] = []
        self._started: list[threading.Thread] = []

    def submit(self, name: str, fn: Callable[[], Any], on_done: Done) -> None:
        """Run `fn()` on a worker thread; `on_done(result)` runs in a later `deliver()`.
        While paused, the thread starts at `resume()`."""
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

        thread = threading.Thread(target=work, name=f"fistball-job-{name}", daemon=True)
        with self._lock:
            if self._paused:
                self._held.append(thread)
                return
            self._started = [t for t in self._started if t.is_alive()] + [thread]
        thread.start()

    def pause(self, timeout_s: float) -> bool:
        """Hold new jobs back and wait up to `timeout_s` for the running ones to end
        (see quiet_threads.py for why); True when no job thread runs."""
        with self._lock:
            self._paused += 1
            started = list(self._started)
        deadline = time.monotonic() + timeout_s
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in started)

    def resume(self) -> None:
        """Start the jobs held back by `pause()` (at the outermost resume)."""
        with self._lock:
            self._paused = max(0, self._paused - 1)
            if self._paused:  # an outer pause still holds
                return
            held, self._held = self._held, []
            self._started = [t for t in self._started if t.is_alive()] + held
        for thread in held:
            thread.start()

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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.005)
        with self._lock:
            return not self._running
