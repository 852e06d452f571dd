"""Live session glue, no bpy: mailbox contents -> game core -> score log.

The main-thread timer calls `SessionController.update(drained, now)` once per tick
with what the mailbox collected since the last tick. The controller

- keeps the newest grade, the bridge's hello (`bridge`) and errors, and the physical
  hand's state (`hand`, from `status.hand` and the answers to hand commands);
- steps the running `Game` with every grade at the time it arrived, then up to `now`
  (the game holds each input until the next one, so nothing between ticks is lost);
- pauses the game when the bridge goes away or stops sending grades, and resumes it
  when grades flow again (the pause reason ends up in the score log);
- appends one timeline row per tick and closes the log when the session ends.

It returns the `GameView` the scene should show (also kept as `view`). The panel reads
the game itself (`game`, `state`, `pause_reason`), the view and the hand status here;
the link's own state lives in `connection.LinkStatus`. All times are
`time.monotonic()` seconds; tests pass their own.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

from ..core.game import Game
from ..core.leds import leds_lit
from ..core.score_log import ScoreLog, ScoreLogError
from ..core.view import GameView
from ..protocol_v1 import MAX_GRADE, MSG_REDON
from .bridge_status import BridgeInfo, HandStatus
from .client import CLOSURE
from .mailbox import Drained

log = logging.getLogger(__name__)

REASON_DISCONNECTED = "disconnected"
REASON_NO_SIGNAL = "no signal"
REASON_USER = "user"


class SessionError(ValueError):
    """A session could not be started or controlled; the message says why."""


class SessionController:
    """Steps one live game from the mailbox and decides when it pauses."""

    def __init__(self, *, stale_after_s: float = 1.0) -> None:
        """`stale_after_s`: a connected bridge that sends no grade for this long counts
        as no signal (the game pauses)."""
        self.stale_after_s = stale_after_s
        self._game: Game | None = None
        self.score_log: ScoreLog | None = None
        self.latest_grade: dict[str, Any] | None = None
        self.view = GameView(connected=False)
        """What the scene shows now (the last `update`'s result)."""
        self.bridge = BridgeInfo()
        self.hand: HandStatus | None = None
        """None until the bridge's first status (then the panel shows a hand box)."""
        self.hand_reply = ""
        """The bridge's answer to the last hand command (or that it was sent)."""
        self.hand_error = ""
        """Why the bridge refused the last hand command (empty when it did not)."""
        self.bridge_error = ""
        """The bridge's last other error message, as `code: detail`."""
        self.session_id = ""
        self.log_folder = ""
        self.last_summary: dict[str, Any] = {}
        self._connected = False
        self._signal = False
        self._user_paused = False
        self._auto_reason = ""
        self._pause_reason = ""
        self._hello: dict[str, Any] = {}
        self._hand_rx = -1e18
        self.sessions_finished = 0
        """Counts sessions that ended (completed or not): the history refreshes on change."""

    @property
    def game(self) -> Game | None:
        """The current (or last) session's game; None before the first start."""
        return self._game

    @property
    def hello(self) -> dict[str, Any]:
        """The bridge's last hello ({} before the first)."""
        return self._hello

    @property
    def signal(self) -> bool:
        """Connected, and the newest grade is at most `stale_after_s` old."""
        return self._signal

    @property
    def state(self) -> str:
        """idle | running | paused | finished"""
        game = self._game
        if game is None:
            return "idle"
        return "finished" if game.finished else "paused" if game.paused else "running"

    @property
    def pause_reason(self) -> str:
        """Why the running game is paused ("" when it is not)."""
        game = self._game
        return self._pause_reason if game is not None and game.paused else ""

    def display_key(self) -> tuple[Any, ...]:
        """The game, signal and hand as the panel shows them (rounded): redraw only when
        this changes."""
        game, view = self._game, self.view
        return (
            self._signal,
            view.grade,
            view.gesture,
            self.bridge,
            self.bridge_error,
            self.state,
            self.pause_reason,
            None if game is None else (int(game.time_left_s), round(game.score), game.catches),
            self.session_id,
            self.hand,
            self.hand_reply,
            self.hand_error,
        )

    def note_hand_sent(self, action: str) -> None:
        """The add-on sent a hand command: show it as pending until the bridge answers."""
        self.hand_reply = f"{action} sent, waiting for the bridge"
        self.hand_error = ""

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
        if self._game is not None and not self._game.finished:
            raise SessionError("a session is already running; stop it first")
        if require_signal and not self._signal:
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
        self._game, self.score_log = game, score_log
        self._user_paused = False
        self._auto_reason = ""
        game.start(now)
        self.session_id = score_log.session_id if score_log else ""
        self.log_folder = str(score_log.folder) if score_log else ""
        self.last_summary = {}
        self._apply_pause_policy(now)
        return game

    def toggle_pause(self, now: float) -> bool:
        """Pause or resume on the user's request; returns True when now paused by the user."""
        if self._game is None or self._game.finished:
            raise SessionError("no session is running")
        self._user_paused = not self._user_paused
        self._apply_pause_policy(now)
        return self._user_paused

    def stop(self, now: float, reason: str = "stopped") -> dict[str, Any]:
        """End the session early (completed=false) and close its log; returns the summary."""
        if self._game is None or self._game.finished:
            raise SessionError("no session is running")
        self._game.stop(now, reason)
        return self._finish()

    # -- per tick -------------------------------------------------------------------
    def update(self, drained: Drained, now: float) -> GameView:
        """Take one tick's mailbox contents; step the game; return the view to draw."""
        if drained.hello is not None:
            self._hello = drained.hello
            self.bridge = BridgeInfo.from_hello(drained.hello)
        self._take_hand(drained)
        for err in drained.errors:
            if err.get("ref") == MSG_REDON:
                continue  # the re-don check's own refusal: `RedonState` shows it
            text = f"{err.get('code', 'error')}: {err.get('detail', '')}".strip()
            if err.get("code") == "hand_refused" or err.get("ref") == "hand":
                self.hand_error = str(err.get("detail") or text)
                self.hand_reply = ""
            else:
                self.bridge_error = text
        self._connected = drained.connected
        if drained.latest_grade is not None:
            self.latest_grade = drained.latest_grade
        latest = self.latest_grade
        fresh = (
            latest is not None
            and now - float(latest.get("_rx", now)) <= self.stale_after_s
            and drained.connected
        )
        self._signal = fresh
        self.view = self._step(drained, now, latest, fresh)
        return self.view

    def close(self, now: float, reason: str) -> None:
        """End any running session (e.g. the add-on is disabled or a file is loaded)."""
        if self._game is not None and not self._game.finished:
            self._game.stop(now, reason)
            self._finish()

    # -- internals --------------------------------------------------------------------
    def _step(
        self, drained: Drained, now: float, latest: dict[str, Any] | None, fresh: bool
    ) -> GameView:
        game = self._game
        if game is None or game.finished:
            return self._idle_view()
        if not game.paused:
            # Every grade at its arrival time, then the latest held up to now.
            for msg in drained.grades:
                t = float(msg.get("_rx", now))
                if t < now:
                    game.step(t, _grade_of(msg), _closure_of(msg), str(msg.get("gesture", "")))
        self._apply_pause_policy(now, last_known=float(latest.get("_rx", now)) if latest else None)
        if latest is not None:
            view = game.step(
                now,
                _grade_of(latest),
                _closure_of(latest),
                str(latest.get("gesture", "")),
                connected=fresh,
            )
        else:
            view = game.step(now, 0, 0.0, "rest", connected=False)
        if self.score_log is not None:
            self.score_log.append(now, game.row())
        if game.finished:
            self._finish()
        return view

    def _take_hand(self, drained: Drained) -> None:
        """Show the newest hand state, whether it came in a status or a command answer
        (ordered by arrival: a status sent before an answer must not undo it)."""
        newest: tuple[float, Any] | None = None
        if drained.status is not None and "hand" in drained.status:
            newest = (_rx_of(drained.status), drained.status.get("hand"))
        for reply in drained.hand_replies:
            action, detail = str(reply.get("action", "")), str(reply.get("detail", ""))
            self.hand_reply = detail or f"{action}: done"  # the detail names the action
            self.hand_error = ""
            state = reply.get("state")
            if isinstance(state, dict) and (newest is None or _rx_of(reply) >= newest[0]):
                newest = (_rx_of(reply), state)
        if newest is None or newest[0] < self._hand_rx:
            return
        self._hand_rx = newest[0]
        self.hand = HandStatus.from_wire(newest[1])

    def _apply_pause_policy(self, now: float, last_known: float | None = None) -> None:
        """Pause while the user asked to or the signal is missing, else resume.

        A lost signal pauses at `last_known` (when the last grade arrived) if given:
        play time is not run on a stale hand."""
        game = self._game
        if game is None or game.finished:
            return
        if not self._connected:
            self._auto_reason = REASON_DISCONNECTED
        elif not self._signal:
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
        self._pause_reason = self._auto_reason or (REASON_USER if self._user_paused else "")

    def _finish(self) -> dict[str, Any]:
        game = self._game
        assert game is not None
        summary = game.summary()
        if self.score_log is not None:
            try:
                summary = self.score_log.close(summary, completed=game.completed)
            except OSError as exc:
                log.error("could not close the score log: %s", exc)
            self.score_log = None
        self.last_summary = summary
        self.sessions_finished += 1
        return summary

    def _idle_view(self) -> GameView:
        """No game running: the hand and LEDs still follow the live grade."""
        latest = self.latest_grade or {}
        grade = _grade_of(latest)
        game = self._game
        return GameView(
            grade=grade,
            closure=_closure_of(latest),
            gesture=str(latest.get("gesture") or "rest"),
            ball_height=game.ball_height if game is not None else 0.0,
            leds_lit=leds_lit(grade, self._signal),
            score=game.score if game is not None else 0.0,
            time_left_s=game.time_left_s if game is not None else 0.0,
            paused=False,
            connected=self._signal,
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


def _closure_of(msg: dict[str, Any]) -> float:
    """The message's closure 0..1 (bad values count as 0: never raise in a tick)."""
    try:
        lv = float(msg.get(CLOSURE, 0.0))
    except (TypeError, ValueError):
        return 0.0
    return 1.0 if lv > 1.0 else 0.0 if not lv > 0.0 else lv
