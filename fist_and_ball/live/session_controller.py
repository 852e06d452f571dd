"""Live session glue, no bpy: mailbox contents -> game core -> score log.

The main-thread timer calls `SessionController.update(drained, now)` once per tick
with what the mailbox collected since the last tick. The controller

- keeps the newest grade and the bridge's hello/status/errors for the panel, and the
  physical hand's state (from `status.hand` and the answers to hand commands);
- steps the running `Game` with every grade at the time it arrived, then up to `now`
  (the game holds each input until the next one, so nothing between ticks is lost);
- pauses the game when the bridge goes away or stops sending grades, and resumes it
  when grades flow again (the pause reason ends up in the score log);
- appends one timeline row per tick and closes the log when the session ends.

It returns the `GameView` the scene should show. All times are `time.monotonic()`
seconds; tests pass their own.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.game import Game
from ..core.leds import leds_lit
from ..core.score_log import ScoreLog, ScoreLogError
from ..core.view import GameView
from ..protocol_v1 import ACTIVE_GESTURES, MAX_GRADE
from .client import ClientStats
from .mailbox import Drained

log = logging.getLogger(__name__)

DEFAULT_GESTURES = ACTIVE_GESTURES
"""Gestures offered for the QG switch until the bridge's hello names its own."""

REASON_DISCONNECTED = "disconnected"
REASON_NO_SIGNAL = "no signal"
REASON_USER = "user"


class SessionError(ValueError):
    """A session could not be started or controlled; the message says why."""


@dataclass(slots=True)
class LiveStatus:
    """Everything the panel shows, as plain values (the panel never computes)."""

    connected: bool = False
    signal: bool = False
    detail: str = "not connected"
    grades_per_s: float = 0.0
    rtt_ms: float | None = None
    bridge_latency_ms: float | None = None
    grades_received: int = 0
    grade: int | None = None
    level: float | None = None
    gesture: str = ""
    gestures: tuple[str, ...] = DEFAULT_GESTURES
    source: str = ""
    decoder: str = ""
    last_error: str = ""
    state: str = "idle"
    """idle | running | paused | finished"""
    pause_reason: str = ""
    time_left_s: float = 0.0
    score: float = 0.0
    held_s: float = 0.0
    catches: int = 0
    session_level: str = ""
    session_minutes: int = 0
    session_id: str = ""
    log_folder: str = ""
    last_summary: dict[str, Any] = field(default_factory=dict)
    hand_present: bool | None = None
    """None: no status from the bridge yet; False: the bridge runs without --hand."""
    hand_state: str = ""
    """The safety layer's state: disabled | blocked | active | holding | opening | estop."""
    hand_enabled: bool = False
    hand_reason: str = ""
    hand_link: str = ""
    """The hand driver's link: connected | disconnected."""
    hand_driver: str = ""
    hand_authorized: bool | None = None
    """From the hello: may this connection enable the hand (None: the bridge did not say)."""
    hand_reply: str = ""
    """The bridge's answer to the last hand command (or that it was sent)."""
    hand_error: str = ""
    """Why the bridge refused the last hand command (empty when it did not)."""

    def display_key(self) -> tuple[Any, ...]:
        """The values as the panel shows them (rounded): redraw only when this changes."""
        return (
            self.connected,
            self.signal,
            self.detail,
            round(self.grades_per_s),
            None if self.rtt_ms is None else round(self.rtt_ms, 1),
            self.grade,
            self.gesture,
            self.gestures,
            self.last_error,
            self.state,
            self.pause_reason,
            int(self.time_left_s),
            round(self.score),
            self.catches,
            self.session_id,
            self.hand_present,
            self.hand_state,
            self.hand_link,
            self.hand_reason,
            self.hand_reply,
            self.hand_error,
            self.hand_authorized,
        )


class SessionController:
    """Steps one live game from the mailbox and decides when it pauses."""

    def __init__(self, *, stale_after_s: float = 1.0) -> None:
        """`stale_after_s`: a connected bridge that sends no grade for this long counts
        as no signal (the game pauses)."""
        self.stale_after_s = stale_after_s
        self.status = LiveStatus()
        self.game: Game | None = None
        self.score_log: ScoreLog | None = None
        self.latest_grade: dict[str, Any] | None = None
        self._user_paused = False
        self._auto_reason = ""
        self._hello: dict[str, Any] = {}
        self._hand_rx = -1e18
        self.sessions_finished = 0
        """Counts sessions that ended (completed or not): the history refreshes on change."""

    @property
    def hello(self) -> dict[str, Any]:
        """The bridge's last hello ({} before the first)."""
        return self._hello

    def note_hand_sent(self, action: str) -> None:
        """The add-on sent a hand command: show it as pending until the bridge answers."""
        self.status.hand_reply = f"{action} sent, waiting for the bridge"
        self.status.hand_error = ""

    # -- session control (operators) ---------------------------------------------
    def start(
        self,
        now: float,
        *,
        level: str,
        minutes: int,
        seed: int | None = None,
        patient: str = "",
        log_folder: Path | str | None = None,
        require_signal: bool = True,
    ) -> Game:
        """Start a new session at `now`; the score log goes to `log_folder` (None: no log).

        Raises SessionError when a session is running, the settings are invalid, there
        is no live signal (unless `require_signal` is False) or the log cannot be written.
        """
        if self.game is not None and not self.game.finished:
            raise SessionError("a session is already running; stop it first")
        if require_signal and not self.status.signal:
            raise SessionError("no signal from the bridge: connect and check the bridge first")
        seed = random.randrange(1, 2**31) if not seed else int(seed)
        try:
            game = Game(level, minutes, seed)
        except ValueError as exc:
            raise SessionError(str(exc)) from None
        score_log = None
        if log_folder is not None:
            try:
                score_log = ScoreLog.open(
                    log_folder,
                    patient=patient,
                    level=game.spec.name,
                    minutes=game.minutes,
                    decoder=str(self._hello.get("decoder", "unknown")),
                    source=str(self._hello.get("source", "unknown")),
                    seed=seed,
                    extra={"input": "live", "bridge": self._hello.get("bridge", "")},
                )
            except ScoreLogError as exc:
                raise SessionError(str(exc)) from None
        self.game, self.score_log = game, score_log
        self._user_paused = False
        self._auto_reason = ""
        game.start(now)
        st = self.status
        st.session_level, st.session_minutes = game.spec.name, game.minutes
        st.session_id = score_log.session_id if score_log else ""
        st.log_folder = str(score_log.folder) if score_log else ""
        st.last_summary = {}
        self._apply_pause_policy(now)
        self._refresh_game_status()
        return game

    def toggle_pause(self, now: float) -> bool:
        """Pause or resume on the user's request; returns True when now paused by the user."""
        if self.game is None or self.game.finished:
            raise SessionError("no session is running")
        self._user_paused = not self._user_paused
        self._apply_pause_policy(now)
        self._refresh_game_status()
        return self._user_paused

    def stop(self, now: float, reason: str = "stopped") -> dict[str, Any]:
        """End the session early (completed=false) and close its log; returns the summary."""
        if self.game is None or self.game.finished:
            raise SessionError("no session is running")
        self.game.stop(now, reason)
        return self._finish()

    # -- per tick -------------------------------------------------------------------
    def update(self, drained: Drained, now: float, link: ClientStats | None = None) -> GameView:
        """Take one tick's mailbox contents; step the game; return the view to draw."""
        st = self.status
        if drained.hello is not None:
            self._hello = drained.hello
            names = drained.hello.get("gestures")
            if isinstance(names, list) and names:
                st.gestures = tuple(str(n) for n in names)
            st.source = str(drained.hello.get("source", ""))
            st.decoder = str(drained.hello.get("decoder", ""))
            auth = drained.hello.get("hand_authorized")
            st.hand_authorized = auth if isinstance(auth, bool) else None
        if drained.status is not None:
            lat = drained.status.get("latency_ms")
            if isinstance(lat, dict) and isinstance(lat.get("p50"), int | float):
                st.bridge_latency_ms = float(lat["p50"])
        self._take_hand(drained)
        for err in drained.errors:
            text = f"{err.get('code', 'error')}: {err.get('detail', '')}".strip()
            if err.get("code") == "hand_refused" or err.get("ref") == "hand":
                st.hand_error = str(err.get("detail") or text)
                st.hand_reply = ""
            else:
                st.last_error = text
        st.grades_received += len(drained.grades)
        st.connected = drained.connected
        st.detail = drained.connection_detail
        if link is not None:
            st.grades_per_s = link.grades_per_s if link.connected else 0.0
            st.rtt_ms = link.rtt_ms if link.connected else None
        if drained.latest_grade is not None:
            self.latest_grade = drained.latest_grade
        latest = self.latest_grade
        fresh = (
            latest is not None
            and now - float(latest.get("_rx", now)) <= self.stale_after_s
            and drained.connected
        )
        st.signal = fresh
        if latest is not None:
            st.grade = _grade_of(latest)
            st.level = _level_of(latest)
            st.gesture = str(latest.get("gesture", ""))
        game = self.game
        if game is None or game.finished:
            return self._idle_view()
        if not game.paused:
            # Every grade at its arrival time, then the latest held up to now.
            for msg in drained.grades:
                t = float(msg.get("_rx", now))
                if t < now:
                    game.step(t, _grade_of(msg), _level_of(msg), str(msg.get("gesture", "")))
        self._apply_pause_policy(now, last_known=float(latest.get("_rx", now)) if latest else None)
        if latest is not None:
            view = game.step(
                now,
                _grade_of(latest),
                _level_of(latest),
                str(latest.get("gesture", "")),
                connected=fresh,
            )
        else:
            view = game.step(now, 0, 0.0, "rest", connected=False)
        if self.score_log is not None:
            self.score_log.append(now, game.row())
        if game.finished:
            self._finish()
        else:
            self._refresh_game_status()
        return view

    def close(self, now: float, reason: str) -> None:
        """End any running session (e.g. the add-on is disabled or a file is loaded)."""
        if self.game is not None and not self.game.finished:
            self.game.stop(now, reason)
            self._finish()

    # -- internals --------------------------------------------------------------------
    def _take_hand(self, drained: Drained) -> None:
        """Show the newest hand state, whether it came in a status or a command answer
        (ordered by arrival: a status sent before an answer must not undo it)."""
        st = self.status
        newest: tuple[float, Any] | None = None
        if drained.status is not None and "hand" in drained.status:
            newest = (_rx_of(drained.status), drained.status.get("hand"))
        for reply in drained.hand_replies:
            action, detail = str(reply.get("action", "")), str(reply.get("detail", ""))
            st.hand_reply = detail or f"{action}: done"  # the detail names the action
            st.hand_error = ""
            state = reply.get("state")
            if isinstance(state, dict) and (newest is None or _rx_of(reply) >= newest[0]):
                newest = (_rx_of(reply), state)
        if newest is None or newest[0] < self._hand_rx:
            return
        self._hand_rx = newest[0]
        hand = newest[1]
        if not isinstance(hand, dict):
            st.hand_present = False
            st.hand_state = st.hand_reason = st.hand_link = st.hand_driver = ""
            st.hand_enabled = False
            return
        st.hand_present = True
        st.hand_state = str(hand.get("state") or "unknown")
        st.hand_enabled = bool(hand.get("enabled"))
        st.hand_reason = str(hand.get("reason") or "")
        link = hand.get("link")
        st.hand_link = str(link) if link else ("connected" if hand.get("connected") else "")
        driver = hand.get("driver")
        st.hand_driver = str(driver.get("driver", "")) if isinstance(driver, dict) else ""

    def _apply_pause_policy(self, now: float, last_known: float | None = None) -> None:
        """Pause while the user asked to or the signal is missing, else resume.

        A lost signal pauses at `last_known` (when the last grade arrived) if given:
        play time is not run on a stale hand."""
        game = self.game
        if game is None or game.finished:
            return
        if not self.status.connected:
            self._auto_reason = REASON_DISCONNECTED
        elif not self.status.signal:
            self._auto_reason = REASON_NO_SIGNAL
        else:
            self._auto_reason = ""
        reason = REASON_USER if self._user_paused else self._auto_reason
        if reason and not game.paused:
            at = now if self._user_paused or last_known is None else min(now, last_known)
            game.pause(at, reason)
            log.info("session paused: %s", reason)
        elif not reason and game.paused:
            game.resume(now)
            log.info("session resumed")
        shown = self._auto_reason or (REASON_USER if self._user_paused else "")
        self.status.pause_reason = shown if game.paused else ""

    def _refresh_game_status(self) -> None:
        game, st = self.game, self.status
        if game is None:
            return
        st.state = "finished" if game.finished else "paused" if game.paused else "running"
        st.time_left_s = max(0.0, game.time_left_s)
        st.score = game.score
        st.held_s = game.held_s
        st.catches = game.catches

    def _finish(self) -> dict[str, Any]:
        game = self.game
        assert game is not None
        summary = game.summary()
        if self.score_log is not None:
            try:
                summary = self.score_log.close(summary, completed=game.completed)
            except OSError as exc:
                log.error("could not close the score log: %s", exc)
            self.score_log = None
        self._refresh_game_status()
        self.status.pause_reason = ""
        self.status.last_summary = summary
        self.sessions_finished += 1
        return summary

    def _idle_view(self) -> GameView:
        """No game running: the hand and LEDs still follow the live grade."""
        st = self.status
        grade = st.grade if st.grade is not None else 0
        game = self.game
        return GameView(
            grade=grade,
            level=st.level if st.level is not None else 0.0,
            gesture=st.gesture or "rest",
            ball_height=game.ball_height if game is not None else 0.0,
            leds_lit=leds_lit(grade, st.signal),
            score=game.score if game is not None else 0.0,
            time_left_s=game.time_left_s if game is not None else 0.0,
            paused=False,
            connected=st.signal,
        )


def _rx_of(msg: dict[str, Any]) -> float:
    """When the client received the message (0 when it was not stamped)."""
    rx = msg.get("_rx", 0.0)
    return float(rx) if isinstance(rx, int | float) else 0.0


def _grade_of(msg: dict[str, Any]) -> int:
    """The message's grade as an int 0..8 (bad values count as 0: never raise in a tick)."""
    try:
        g = int(msg.get("grade", 0))
    except (TypeError, ValueError, OverflowError):
        return 0
    return MAX_GRADE if g > MAX_GRADE else 0 if g < 0 else g


def _level_of(msg: dict[str, Any]) -> float:
    try:
        lv = float(msg.get("level", 0.0))
    except (TypeError, ValueError):
        return 0.0
    return 1.0 if lv > 1.0 else 0.0 if not lv > 0.0 else lv
