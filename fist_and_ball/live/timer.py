# mypy: disable-error-code="union-attr"
# (fake-bpy-module types screen/areas/regions as Optional)
"""The live runtime and the one `bpy.app.timers` callback that drives it (bpy, main thread).

Threading model: `BridgeClient` runs the websocket on its own thread and only writes
into the `Mailbox`. `tick()` runs on Blender's main thread at the scene's frame rate:
it drains the mailbox, steps the `SessionController` (game core + score log), applies
the view to the scene, feeds the developer decoder view (when on) and tags the sidebar
for redraw (at most `REDRAW_HZ`, and only when a displayed value changed). Slow work
never runs here: the history (re-read when a session has ended) and the report are
built by `JobRunner` worker threads, whose results the tick hands to the main thread.
Each tick's own duration is kept in `LiveRuntime.tick_times` (developer view). Timers
never fire in background mode (`blender -b`, bpy as a module): headless code calls
`tick()` itself.

A tick never lets an exception out (it would kill the timer and print a traceback in
Blender's console): errors are logged, throttled, and the timer keeps running.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import bpy

from ..core.view import GameView
from ..protocol_v1 import REDON_CANCEL, REDON_START, redon_command
from .connection import Connection
from .decoder_state import DecoderViewState, tag_grades_of
from .history_cache import HistoryCache, HistoryRead, read_history
from .jobs import JobResult, JobRunner
from .quiet_threads import quiet
from .redon_state import RedonState, start_problem
from .session_controller import SessionController

log = logging.getLogger(__name__)

REDRAW_HZ = 10.0
"""Most panel redraws per second."""
MIN_HZ, MAX_HZ = 20.0, 60.0
"""The tick follows the scene's frame rate, clamped to this range."""
REFS_RETRY_S = 1.0
"""How often a missing game scene is looked for again (lookups by name are not free)."""
ERROR_LOG_EVERY_S = 5.0
JOB_HISTORY = "history"
JOB_REPORT = "report"
JOB_POLL_S = 0.1
"""How often finished background jobs are looked for while one is unfinished."""


class TickTimes:
    """How long the timer's own ticks take (ms), for the developer view and benches."""

    def __init__(self) -> None:
        self.last_ms = 0.0
        self.max_ms = 0.0
        self.mean_ms = 0.0
        """Exponential mean over about the last 50 ticks."""

    def add(self, ms: float) -> None:
        self.last_ms = ms
        self.max_ms = max(self.max_ms, ms)
        self.mean_ms = ms if self.mean_ms == 0.0 else self.mean_ms + (ms - self.mean_ms) / 50.0

    def reset_max(self) -> None:
        self.max_ms = 0.0


class LiveRuntime:
    """Everything live, split by concern: the link to the bridge and its state (`link`,
    `link.status`), the game, signal and hand state (`controller`: `game`, `view`,
    `hand`), the developer decoder view (`decoder`), the cached history and the
    background jobs, plus scene handles and the redraw throttle."""

    def __init__(self) -> None:
        self.link = Connection()
        self.controller = SessionController()
        self.decoder = DecoderViewState()
        self.redon = RedonState()
        """The re-don check this add-on started (the bridge runs it)."""
        self.history = HistoryCache()
        self.jobs = JobRunner()
        self.refs: Any = None  # scene.refs.SceneRefs once the game scene is found
        self.interval = 1.0 / 24.0
        self.ticks = 0
        self.tick_times = TickTimes()
        self.errors = 0
        self.last_error = ""
        self.panel_draws = 0
        """Incremented by the panel's draw(): lets a GUI test see the panel is on screen."""
        self.last_report = ""
        """Path of the HTML report the add-on last wrote ("" before the first)."""
        self.report_note = ""
        """The last report's outcome for the panel (written, opened, or why not)."""
        self._sessions_seen = 0
        self._refs_looked = -1e9
        self._last_redraw = -1e9
        self._last_key: tuple[Any, ...] | None = None
        self._last_error_log = -1e9

    def quiet(self) -> AbstractContextManager[bool]:
        """The network thread parked and no job running, for a block that calls an
        operator under a context override (quiet_threads.py)."""
        return quiet([self.link, self.jobs])

    # -- connection ---------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The current BridgeClient (None when not connected)."""
        return self.link.client

    def connect(self, url: str, *, token: str = "", allow_remote: bool = False) -> str | None:
        """Start the network thread towards `url`; returns a problem text or None."""
        problem = self.link.connect(url, token=token, allow_remote=allow_remote)
        if problem:
            return problem
        self.decoder.kmg.reset()
        self.interval = frame_interval()
        ensure_timer()
        return None

    def disconnect(self, *, keep_timer: bool = False) -> Any:
        """Cancel the network thread and return at once (a running session pauses).
        Returns the old client, so a test can join its thread."""
        client = self.link.disconnect()
        if client is not None:
            safe_tick(self, time.monotonic())  # show the disconnected state at once
        if not keep_timer and not self.needs_timer:
            stop_timer()
        return client

    @property
    def session_running(self) -> bool:
        game = self.controller.game
        return game is not None and not game.finished

    @property
    def needs_timer(self) -> bool:
        """Something live is left to tick: a session or a link (jobs have their own)."""
        return self.session_running or self.link.active

    def send(self, message: dict[str, Any]) -> bool:
        """Send a protocol message to the bridge; False when not connected."""
        return self.link.send(message)

    def redon_start_problem(self) -> str:
        """Why the re-don check cannot start now ("" when it can)."""
        return start_problem(
            connected=self.link.status.connected,
            authorized=self.controller.bridge.hand_authorized,
            session_running=self.session_running,
            busy=self.redon.busy,
        )

    def start_redon(self, now: float) -> str:
        """Ask the bridge to run the re-don check; returns why not ("" when sent)."""
        problem = self.redon_start_problem()
        if not problem and not self.send(redon_command(REDON_START)):
            problem = "Not connected to the bridge"
        if not problem:
            self.redon.sent_start(now)
        return problem

    def cancel_redon(self, now: float) -> str:
        """Ask the bridge to cancel the running check; returns why not ("" when sent)."""
        if not self.redon.busy:
            return "No re-don check is running"
        if not self.send(redon_command(REDON_CANCEL)):
            return "Not connected to the bridge"
        self.redon.sent_cancel(now)
        return ""

    def set_decoder_view(self, on: bool) -> bool:
        """Turn the decoder view on/off: (un)subscribe the kmg stream (kept across
        reconnects). Returns whether the (un)subscribe went out now."""
        self.decoder.set_on(on)
        return self.link.set_kmg(on)

    def ensure_decoder_view(self, refs: Any, n: int) -> Any:
        """The decoder view for `n` sensors in the game scene."""
        return self.decoder.ensure(refs, self.controller.hello, n)

    # -- background work ------------------------------------------------------------
    def refresh_history(self, folder: Path | str) -> None:
        """Read the history on a worker thread; the panel shows it when it is back."""
        n = self.history.n
        self.jobs.submit(JOB_HISTORY, lambda: read_history(folder, n), self._history_read)
        ensure_job_timer()

    def _history_read(self, result: JobResult) -> None:
        if result.error is not None:
            self.history.apply(HistoryRead(self.history.folder, [], str(result.error)))
        elif isinstance(result.value, HistoryRead):
            self.history.apply(result.value)

    def write_report(self, folder: Path, on_written: Any) -> None:
        """Build the HTML report on a worker thread, then (main thread) remember it,
        refresh the history and call `on_written(path)`; failures go to `report_note`."""

        def build() -> tuple[Path, HistoryRead]:
            from ..report import build_report  # numpy: imported off the main thread

            out = build_report(folder, Path(folder) / "report.html")
            return out, read_history(folder, self.history.n)

        def done(result: JobResult) -> None:
            if result.error is not None:
                self.report_note = f"No report: {result.error}"
                log.error("Fist & Ball: %s", self.report_note)
                return
            out, read = result.value
            self.last_report = str(out)
            self.report_note = f"Report: {out}"
            self.history.apply(read)
            on_written(out)

        self.report_note = "Writing the report..."
        self.jobs.submit(JOB_REPORT, build, done)
        ensure_job_timer()

    # -- the tick -----------------------------------------------------------------
    def tick_once(self, now: float) -> GameView:
        """One frame: drain, step, draw. May raise; `tick()` guards it."""
        t0 = time.perf_counter()
        try:
            return self._tick(now)
        finally:
            self.tick_times.add((time.perf_counter() - t0) * 1000.0)

    def _tick(self, now: float) -> GameView:
        self.ticks += 1
        self.jobs.deliver()
        drained = self.link.drain()
        controller = self.controller
        view = controller.update(drained, now)
        self.redon.update(drained, now)
        refs = self.scene_refs(now)
        if refs is not None:
            from ..scene.apply import apply_view

            try:
                apply_view(refs, view)
                grade = view.grade if controller.signal else 0
                gesture = view.gesture if controller.latest_grade else ""
                tags = tag_grades_of(controller.latest_grade) if controller.signal else None
                self.decoder.tick(refs, drained.kmg, now, controller.hello, gesture, grade, tags)
            except ReferenceError:
                self.refs = None  # the scene was deleted under us (undo, file load)
        if controller.sessions_finished != self._sessions_seen:
            self._sessions_seen = controller.sessions_finished
            folder = controller.log_folder or self.history.folder
            if folder:
                self.refresh_history(folder)  # once per ended session, off this thread
        self._maybe_redraw(now)
        return view

    def scene_refs(self, now: float) -> Any:
        """Handles to the game scene, looked up again at most once a second when lost."""
        refs = self.refs
        if refs is not None and refs.alive():
            return refs
        self.refs = None
        if now - self._refs_looked < REFS_RETRY_S:
            return None
        self._refs_looked = now
        from ..scene.build import find_scene_refs

        self.refs = find_scene_refs(_game_scene())
        return self.refs

    def _maybe_redraw(self, now: float) -> None:
        if now - self._last_redraw < 1.0 / REDRAW_HZ:
            return
        key = (
            *self.link.status.display_key(),
            *self.controller.display_key(),
            self.history.version,
            self.report_note,
            self.decoder.on,
            self.decoder.applied > 0,
            self.decoder.display_key(),
            self.redon.display_key(),
        )
        if key == self._last_key:
            return
        self._last_key = key
        self._last_redraw = now
        tag_sidebar_redraw()

    def shutdown(self, reason: str) -> None:
        """End the session (log closed, marked incomplete) and cancel the thread."""
        try:
            self.controller.close(time.monotonic(), reason)
        finally:
            self.link.disconnect()


_runtime: LiveRuntime | None = None


def get_runtime() -> LiveRuntime:
    """The add-on's live runtime (created on first use)."""
    global _runtime
    if _runtime is None:
        _runtime = LiveRuntime()
    return _runtime


def peek_runtime() -> LiveRuntime | None:
    """The runtime if one exists (the panel uses this: drawing creates nothing)."""
    return _runtime


def quiet_threads() -> AbstractContextManager[bool]:
    """The live runtime's threads stand still for the block (none: nothing to do).
    Wrap every `bpy.ops` call made under `temp_override` in it (quiet_threads.py)."""
    rt = peek_runtime()
    return rt.quiet() if rt is not None else nullcontext(True)


def tick() -> float | None:
    """The timer callback; call it directly in background mode. Returns the next interval
    (None, which ends the timer, once the runtime is gone)."""
    rt = _runtime
    if rt is None:
        return None
    safe_tick(rt, time.monotonic())
    return rt.interval


def deliver_jobs() -> float | None:
    """The jobs' own timer: hand finished background jobs to the main thread, poll
    again while any is unfinished (so they are delivered with nothing live ticking)."""
    rt = _runtime
    if rt is None:
        return None
    try:
        rt.jobs.deliver()
        rt._maybe_redraw(time.monotonic())
    except Exception as exc:  # keep Blender's timer list clean of tracebacks
        log.error("Fist & Ball: delivering background results failed: %s", exc)
    return JOB_POLL_S if rt.jobs.pending else None


def ensure_job_timer() -> None:
    if not bpy.app.timers.is_registered(deliver_jobs):
        bpy.app.timers.register(deliver_jobs, first_interval=JOB_POLL_S, persistent=True)


def safe_tick(rt: LiveRuntime, now: float) -> bool:
    """Run one tick; log (throttled) instead of raising. True when it went through."""
    try:
        rt.tick_once(now)
        return True
    except Exception as exc:  # keep the timer alive; a traceback in the console helps no one
        rt.errors += 1
        rt.last_error = f"{type(exc).__name__}: {exc}"
        if now - rt._last_error_log >= ERROR_LOG_EVERY_S:
            rt._last_error_log = now
            log.error("Fist & Ball tick failed (%d so far): %s", rt.errors, rt.last_error)
        return False


def ensure_timer() -> None:
    """Register the tick timer if it is not registered (persistent across file loads)."""
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.0, persistent=True)


def stop_timer() -> None:
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)


def stop_job_timer() -> None:
    if bpy.app.timers.is_registered(deliver_jobs):
        bpy.app.timers.unregister(deliver_jobs)


def shutdown(reason: str = "add-on disabled") -> None:
    """Stop everything live: timer, session (log closed), network thread."""
    global _runtime
    stop_timer()
    stop_job_timer()
    rt, _runtime = _runtime, None
    if rt is not None:
        rt.shutdown(reason)


def frame_interval(scene: Any = None) -> float:
    """Seconds between ticks: the scene's frame rate, clamped to MIN_HZ..MAX_HZ."""
    scene = scene if scene is not None else _game_scene()
    try:
        fps = scene.render.fps / (scene.render.fps_base or 1.0)
    except AttributeError:
        fps = 24.0
    return 1.0 / min(MAX_HZ, max(MIN_HZ, fps))


def tag_sidebar_redraw() -> None:
    """Ask every 3D view's sidebar to redraw (no-op without windows)."""
    wm = bpy.context.window_manager
    if wm is None:
        return
    for window in wm.windows:
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type == "VIEW_3D":
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


GAME_SCENE_NAME = "Fist & Ball"
"""The add-on builds the game in its own scene so the user's scenes stay untouched."""


def _game_scene() -> Any:
    scene = bpy.data.scenes.get(GAME_SCENE_NAME)
    return scene if scene is not None else bpy.context.scene


def default_log_folder(addon_id: str, *, create: bool = True) -> Path:
    """Where score logs go unless the preferences name a folder.

    Blender 4.2+: the extension's user folder; older Blender (legacy add-on) or a
    non-extension install: `<user datafiles>/fist_and_ball`. `create=False` only names
    it (drawing code must not create folders).
    """
    path_user = getattr(bpy.utils, "extension_path_user", None)
    if path_user is not None and addon_id.startswith("bl_ext."):
        try:
            return Path(path_user(addon_id, create=create))
        except (ValueError, RuntimeError, OSError) as exc:
            log.warning("no extension user folder for %s (%s); using datafiles", addon_id, exc)
    return Path(bpy.utils.user_resource("DATAFILES", path="fist_and_ball", create=create))
