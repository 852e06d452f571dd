# mypy: disable-error-code="union-attr"
# (fake-bpy-module types screen/areas/regions as Optional)
"""The live runtime and the one `bpy.app.timers` callback that drives it (bpy, main thread).

Threading model: `BridgeClient` runs the websocket on its own thread and only writes
into the `Mailbox`. `tick()` runs on Blender's main thread at the scene's frame rate:
it drains the mailbox, steps the `SessionController` (game core + score log), applies
the view to the scene, feeds the developer decoder view (when on) and tags the sidebar
for redraw (at most `REDRAW_HZ`, and only when a displayed value changed). It also
refreshes the cached session history when a session has ended. Timers never fire in
background mode (`blender -b`, bpy as a module): headless code calls `tick()` itself.

A tick never lets an exception out (it would kill the timer and print a traceback in
Blender's console): errors are logged, throttled, and the timer keeps running.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import bpy

from ..core.view import GameView
from .client import BridgeClient, ClientStats, check_url
from .history_cache import HistoryCache
from .kmg_bars import (
    MAX_SENSORS,
    KmgNormalizer,
    ring_positions,
    sensor_positions,
)
from .mailbox import Mailbox
from .session_controller import SessionController

log = logging.getLogger(__name__)

REDRAW_HZ = 10.0
"""Most panel redraws per second."""
MIN_HZ, MAX_HZ = 20.0, 60.0
"""The tick follows the scene's frame rate, clamped to this range."""
REFS_RETRY_S = 1.0
"""How often a missing game scene is looked for again (lookups by name are not free)."""
ERROR_LOG_EVERY_S = 5.0
DECODER_BAR_M = 0.04
"""Full bar length of the decoder view (m): short enough not to cover its text."""


class LiveRuntime:
    """Everything live: mailbox, client, controller, scene handles and redraw throttle."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.client: BridgeClient | None = None
        self.controller = SessionController()
        self.refs: Any = None  # scene.refs.SceneRefs once the game scene is found
        self.interval = 1.0 / 24.0
        self.ticks = 0
        self.errors = 0
        self.last_error = ""
        self.last_view: GameView | None = None
        self.panel_draws = 0
        """Incremented by the panel's draw(): lets a GUI test see the panel is on screen."""
        self.history = HistoryCache()
        self.last_report = ""
        """Path of the HTML report the add-on last wrote ("" before the first)."""
        self.decoder_on = False
        """The developer decoder view is wanted: kmg subscribed, bars fed every tick."""
        self.kmg = KmgNormalizer()
        self.kmg_applied = 0
        """kmg samples drawn into the decoder view (ticks that had a new one)."""
        self.decoder_bars: list[float] = []
        """The bar heights last drawn (0..1, NaN = dead sensor)."""
        self.kmg_last: dict[str, Any] | None = None
        """The `kmg` message those bars came from."""
        self.decoder_layout = ""
        """Where the decoder view's sensors came from, for the panel."""
        self._decoder_visible: bool | None = None
        self._sessions_seen = 0
        self._refs_looked = -1e9
        self._last_redraw = -1e9
        self._last_key: tuple[Any, ...] | None = None
        self._last_error_log = -1e9

    # -- connection ---------------------------------------------------------------
    def connect(self, url: str, *, token: str = "", allow_remote: bool = False) -> str | None:
        """Start the network thread towards `url`; returns a problem text or None."""
        problem = check_url(url, allow_remote)
        if problem:
            return problem
        self.disconnect(keep_timer=True)
        self.mailbox = Mailbox()
        self.client = BridgeClient(url, self.mailbox, token=token, allow_remote=allow_remote)
        if self.decoder_on:
            self.client.set_kmg(True)  # sent as soon as the connection is up
        self.kmg.reset()
        self.client.start()
        self.interval = frame_interval()
        ensure_timer()
        return None

    def disconnect(self, *, keep_timer: bool = False) -> None:
        """Stop the network thread (bounded wait). A running session pauses."""
        client, self.client = self.client, None
        if client is not None:
            client.stop()
            safe_tick(self, time.monotonic())  # show the disconnected state at once
        if not keep_timer and not self.session_running:
            stop_timer()

    @property
    def session_running(self) -> bool:
        game = self.controller.game
        return game is not None and not game.finished

    def link_stats(self) -> ClientStats | None:
        return self.client.stats() if self.client is not None else None

    def send(self, message: dict[str, Any]) -> bool:
        """Send a protocol message to the bridge; False when not connected."""
        return self.client.send(message) if self.client is not None else False

    def set_decoder_view(self, on: bool) -> bool:
        """Turn the decoder view on/off: (un)subscribe the kmg stream (kept across
        reconnects). Returns whether the (un)subscribe went out now."""
        self.decoder_on = bool(on)
        if not on:
            self.kmg.reset()
            self.decoder_bars, self.kmg_last = [], None
        return self.client.set_kmg(self.decoder_on) if self.client is not None else False

    def ensure_decoder_view(self, refs: Any, n: int) -> Any:
        """The decoder view for `n` sensors in the game scene (built or rebuilt if the
        count changed), at the bridge's sensor positions or on a 40 mm ring."""
        from ..scene.decoder_view import build_decoder_view

        dec = refs.decoder
        if dec is None or len(dec.bars) != n:
            hello = self.controller.hello
            positions = sensor_positions(hello, n)
            dec = build_decoder_view(refs, positions, bar_length=DECODER_BAR_M)
            if positions == ring_positions(n):
                self.decoder_layout = "Ring of 40 mm (no positions sent)"
            else:
                self.decoder_layout = f"Layout: {hello.get('layout') or 'from the bridge'}"
            self._decoder_visible = True
        return dec

    # -- the tick -----------------------------------------------------------------
    def tick_once(self, now: float) -> GameView:
        """One frame: drain, step, draw. May raise; `tick()` guards it."""
        self.ticks += 1
        drained = self.mailbox.drain()
        view = self.controller.update(drained, now, self.link_stats())
        self.last_view = view
        refs = self.scene_refs(now)
        if refs is not None:
            from ..scene.apply import apply_view

            try:
                apply_view(refs, view)
                self._tick_decoder(refs, drained.kmg, now)
            except ReferenceError:
                self.refs = None  # the scene was deleted under us (undo, file load)
        if self.controller.sessions_finished != self._sessions_seen:
            self._sessions_seen = self.controller.sessions_finished
            folder = self.controller.status.log_folder or self.history.folder
            if folder:
                self.history.refresh(folder)  # once per ended session, not per tick
        self._maybe_redraw(now)
        return view

    def _tick_decoder(self, refs: Any, kmg: dict[str, Any] | None, now: float) -> None:
        """Draw the newest magnitudes into the decoder view; hide it when off."""
        from ..scene.decoder_view import apply_decoder_view, set_decoder_visible

        if not self.decoder_on:
            if refs.decoder is not None and self._decoder_visible is not False:
                set_decoder_visible(refs, False)
                self._decoder_visible = False
            return
        if refs.decoder is not None and self._decoder_visible is not True:
            set_decoder_visible(refs, True)
            self._decoder_visible = True
        mags = kmg.get("magnitudes") if kmg is not None else None
        if not isinstance(mags, list) or not mags:
            return
        mags = mags[:MAX_SENSORS]
        self.ensure_decoder_view(refs, len(mags))
        rx = kmg.get("_rx", now) if kmg is not None else now
        self.decoder_bars = self.kmg.update(mags, float(rx) if isinstance(rx, float) else now)
        self.kmg_last = kmg
        st = self.controller.status
        grade = st.grade if st.grade is not None and st.signal else 0
        apply_decoder_view(refs, self.decoder_bars, st.gesture or "-", grade)
        self.kmg_applied += 1

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
            *self.controller.status.display_key(),
            self.history.version,
            self.decoder_on,
            self.kmg_applied > 0,
        )
        if key == self._last_key:
            return
        self._last_key = key
        self._last_redraw = now
        tag_sidebar_redraw()

    def shutdown(self, reason: str) -> None:
        """End the session (log closed, marked incomplete) and stop the thread."""
        try:
            self.controller.close(time.monotonic(), reason)
        finally:
            client, self.client = self.client, None
            if client is not None:
                client.stop()


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


def tick() -> float | None:
    """The timer callback; call it directly in background mode. Returns the next interval
    (None, which ends the timer, once the runtime is gone)."""
    rt = _runtime
    if rt is None:
        return None
    safe_tick(rt, time.monotonic())
    return rt.interval


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


def shutdown(reason: str = "add-on disabled") -> None:
    """Stop everything live: timer, session (log closed), network thread."""
    global _runtime
    stop_timer()
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


def default_log_folder(addon_id: str) -> Path:
    """Where score logs go unless the preferences name a folder.

    Blender 4.2+: the extension's user folder; older Blender (legacy add-on) or a
    non-extension install: `<user datafiles>/fist_and_ball`.
    """
    path_user = getattr(bpy.utils, "extension_path_user", None)
    if path_user is not None and addon_id.startswith("bl_ext."):
        try:
            return Path(path_user(addon_id, create=True))
        except (ValueError, RuntimeError, OSError) as exc:
            log.warning("no extension user folder for %s (%s); using datafiles", addon_id, exc)
    return Path(bpy.utils.user_resource("DATAFILES", path="fist_and_ball", create=True))
