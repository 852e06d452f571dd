"""SessionController: mailbox -> game core -> score log, pause on signal loss (no bpy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fist_and_ball.core.score_reader import list_sessions, read_timeline
from fist_and_ball.live.bridge_status import HandStatus
from fist_and_ball.live.connection import LinkStatus
from fist_and_ball.live.mailbox import Mailbox
from fist_and_ball.live.session_controller import (
    REASON_DISCONNECTED,
    REASON_NO_SIGNAL,
    SessionController,
    SessionError,
)

HELLO = {"type": "hello", "protocol": 1, "source": "sim:myo3", "decoder": "qg",
         "gestures": ["fingers"], "bridge": "0.1.0"}  # fmt: skip


class Feed:
    """Plays the network thread: puts grades into a real Mailbox at given times."""

    def __init__(self) -> None:
        self.mb = Mailbox()
        self.mb.set_connection(True, "connected")
        self.mb.put_hello(dict(HELLO))

    def grade(
        self, t: float, g: int, gesture: str = "fingers", closure: float | None = None
    ) -> None:
        """A grade as the client hands it on (its wire `level` already named `closure`)."""
        cl = g / 8 if closure is None else closure
        self.mb.put_grade({"type": "grade", "grade": g, "closure": cl, "gesture": gesture,
                           "_rx": t})  # fmt: skip


def tick(c: SessionController, feed: Feed, now: float) -> Any:
    return c.update(feed.mb.drain(), now)


def play(
    c: SessionController, feed: Feed, t0: float, t1: float, g: int, dt: float = 1 / 30
) -> float:
    """Grades every dt arriving just before each tick, from t0 to t1."""
    t = t0
    while t < t1:
        t += dt
        feed.grade(t - dt / 2, g)
        tick(c, feed, t)
    return t


def test_idle_view_follows_the_grade_and_needs_signal_to_start(tmp_path: Path) -> None:
    c, feed = SessionController(), Feed()
    with pytest.raises(SessionError, match="no signal"):
        c.start(0.0, level="easy", minutes=2, log_folder=tmp_path)
    feed.grade(10.0, 5)
    view = tick(c, feed, 10.02)
    assert (view.grade, view.leds_lit, view.connected) == (5, 6, True)
    assert c.signal and c.view is view and c.bridge.gestures == ("fingers",)
    assert c.bridge.source == "sim:myo3" and c.bridge.decoder == "qg"
    assert c.state == "idle" and c.game is None
    # Stale: no grade for longer than stale_after_s -> no signal, LEDs off.
    view = tick(c, feed, 11.5)
    assert not c.signal and view.leds_lit == 0 and not view.connected


def test_session_steps_logs_and_finishes(tmp_path: Path) -> None:
    c, feed = SessionController(), Feed()
    feed.grade(0.0, 0)
    tick(c, feed, 0.01)
    game = c.start(0.01, level="easy", minutes=2, seed=3, patient="P01", log_folder=tmp_path)
    assert c.state == "running" and c.session_id and c.game is game
    t = play(c, feed, 0.01, 30.0, 0)
    assert game.played_s == pytest.approx(30.0 - 0.01, abs=0.05)
    assert c.view.time_left_s == pytest.approx(120 - game.played_s, abs=1e-6)
    t = play(c, feed, t, 125.0, 0)
    assert game.finished and game.completed and c.state == "finished"
    assert c.score_log is None  # closed at the end
    (rec,) = list_sessions(tmp_path)
    assert rec.status == "complete" and rec.summary["patient"] == "P01"
    assert rec.summary["source"] == "sim:myo3" and rec.summary["decoder"] == "qg"
    assert rec.summary["seed"] == 3 and rec.summary["score"] == c.last_summary["score"]
    rows = read_timeline(tmp_path / rec.summary["timeline"])
    assert len(rows) > 30 * 100  # one row per tick
    # A resting hand on easy holds the ball at the bottom turning points: some score.
    assert rec.summary["held_s"] > 0


def test_disconnect_pauses_at_last_grade_and_reconnect_resumes(tmp_path: Path) -> None:
    c, feed = SessionController(), Feed()
    feed.grade(0.0, 0)
    tick(c, feed, 0.01)
    game = c.start(0.01, level="medium", minutes=2, seed=1, log_folder=tmp_path)
    t = play(c, feed, 0.01, 5.0, 2)
    feed.mb.set_connection(False, "connection closed; retrying")
    view = tick(c, feed, t + 0.2)
    assert game.paused and view.paused and not view.connected and view.leds_lit == 0
    assert c.state == "paused" and c.pause_reason == REASON_DISCONNECTED
    # The tick that noticed the loss (0.2 s later) added no play time: the game stopped
    # where it was when the last grade came in.
    played = game.played_s
    assert played == pytest.approx(t - 0.01, abs=1e-6)
    for k in range(30):
        tick(c, feed, t + 0.3 + k * 0.1)
    assert game.played_s == played
    feed.mb.set_connection(True, "connected")
    t2 = t + 10.0
    feed.grade(t2, 4)
    tick(c, feed, t2 + 0.01)
    assert not game.paused and c.state == "running" and c.pause_reason == ""
    play(c, feed, t2 + 0.01, t2 + 3.0, 4)
    assert game.played_s == pytest.approx(played + 3.0, abs=0.05)
    summary = c.stop(t2 + 3.0)
    assert summary["pause_reasons"] == [REASON_DISCONNECTED]
    assert summary["completed"] is False
    saved = json.loads((tmp_path / f"{c.session_id}.json").read_text())
    assert saved["completed"] is False and saved["state"] == "closed"


def test_connected_but_silent_bridge_pauses_as_no_signal() -> None:
    c, feed = SessionController(stale_after_s=0.5), Feed()
    feed.grade(0.0, 3)
    tick(c, feed, 0.01)
    game = c.start(0.01, level="easy", minutes=2)
    tick(c, feed, 0.3)
    assert not game.paused
    tick(c, feed, 0.6)
    assert game.paused and c.pause_reason == REASON_NO_SIGNAL
    feed.grade(0.7, 3)
    tick(c, feed, 0.71)
    assert not game.paused


def test_user_pause_survives_reconnect() -> None:
    c, feed = SessionController(), Feed()
    feed.grade(0.0, 3)
    tick(c, feed, 0.01)
    game = c.start(0.01, level="easy", minutes=2)
    assert c.toggle_pause(0.5) is True and game.paused and c.pause_reason == "user"
    feed.mb.set_connection(False, "gone")
    tick(c, feed, 0.6)
    feed.mb.set_connection(True, "back")
    feed.grade(0.7, 3)
    tick(c, feed, 0.71)
    assert game.paused  # still the user's pause
    assert c.toggle_pause(0.8) is False
    feed.grade(0.85, 3)
    tick(c, feed, 0.86)
    assert not game.paused


def test_bad_messages_never_raise_and_second_start_is_refused() -> None:
    c, feed = SessionController(), Feed()
    feed.mb.put_grade({"type": "grade", "grade": "x", "closure": None, "_rx": 0.0})
    feed.mb.put_error({"code": "gesture_rejected", "detail": "gesture 'wrist' is not calibrated"})
    view = tick(c, feed, 0.01)
    assert view.grade == 0 and "not calibrated" in c.bridge_error
    c.start(0.01, level="hard", minutes=2)
    with pytest.raises(SessionError, match="already running"):
        c.start(0.02, level="hard", minutes=2)
    with pytest.raises(SessionError, match="2, 4 or 6"):
        SessionController().start(0.0, level="easy", minutes=3, require_signal=False)
    c.stop(0.5)
    with pytest.raises(SessionError, match="no session"):
        c.stop(0.6)


def test_unwritable_log_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    c = SessionController()
    with pytest.raises(SessionError, match="cannot create"):
        c.start(0.0, level="easy", minutes=2, log_folder=blocker / "sub", require_signal=False)
    assert c.game is None


def test_display_key_changes_only_with_shown_values() -> None:
    c, feed = SessionController(), Feed()
    feed.grade(0.0, 3)
    tick(c, feed, 0.01)
    k1 = c.display_key()
    feed.grade(0.02, 3, closure=0.376)
    tick(c, feed, 0.03)
    assert c.display_key() == k1
    feed.grade(0.04, 4)
    tick(c, feed, 0.05)
    assert c.display_key() != k1
    c.start(0.05, level="easy", minutes=2)
    k2 = c.display_key()
    feed.grade(0.06, 4)
    tick(c, feed, 1.2)  # a whole second of play: the time left shown changes
    assert c.display_key() != k2


def test_link_status_follows_the_drain_and_rounds_for_display() -> None:
    feed, link = Feed(), LinkStatus()
    feed.grade(0.0, 3)
    feed.mb.put_status({"type": "status", "latency_ms": {"p50": 4.5}, "_rx": 0.0})
    link.update(feed.mb.drain(), None)
    assert link.connected and link.detail == "connected" and link.grades_received == 1
    assert link.bridge_latency_ms == 4.5 and link.rtt_ms is None and link.grades_per_s == 0.0
    k = link.display_key()
    feed.mb.set_connection(False, "gone")
    link.update(feed.mb.drain(), None)
    assert not link.connected and link.display_key() != k


def _hand(state: str, **kw: Any) -> dict[str, Any]:
    return {"state": state, "enabled": state not in ("disabled", "estop"), "reason": "r",
            "link": "connected", "driver": {"driver": "sim"}, **kw}  # fmt: skip


def test_hand_state_from_status_and_answers_in_arrival_order() -> None:
    c, feed = SessionController(), Feed()
    tick(c, feed, 0.0)
    assert c.hand is None  # no status yet: the panel shows no hand box
    feed.mb.put_status({"type": "status", "hand": None, "_rx": 0.1})
    tick(c, feed, 0.2)
    assert c.hand == HandStatus(present=False)
    feed.mb.put_status({"type": "status", "hand": _hand("disabled"), "_rx": 1.0})
    tick(c, feed, 1.1)
    assert c.hand == HandStatus(True, "disabled", False, "r", "connected", "sim")
    c.note_hand_sent("enable")
    assert "sent" in c.hand_reply
    # The answer (t=1.5) and a status the bridge sent before it (t=1.4) in one drain:
    # the answer wins, whatever order they are drained in.
    feed.mb.put_hand_reply({"type": "hand", "action": "enable", "detail": "enabled (holding)",
                            "state": _hand("holding"), "_rx": 1.5})  # fmt: skip
    feed.mb.put_status({"type": "status", "hand": _hand("disabled"), "_rx": 1.4})
    tick(c, feed, 1.6)
    assert c.hand is not None and c.hand.state == "holding"
    assert c.hand_reply == "enabled (holding)"
    feed.mb.put_status({"type": "status", "hand": _hand("active"), "_rx": 2.4})
    tick(c, feed, 2.5)
    assert c.hand.state == "active" and c.hand.enabled
    # A refusal goes to the hand box, not to the gesture error line.
    feed.mb.put_error({"code": "hand_refused", "detail": "not authorised", "ref": "hand"})
    tick(c, feed, 2.6)
    assert c.hand_error == "not authorised" and c.bridge_error == ""
    k = c.display_key()
    feed.mb.put_status({"type": "status", "hand": _hand("estop", link="disconnected"), "_rx": 3})
    tick(c, feed, 3.1)
    assert c.hand.state == "estop" and c.hand.link == "disconnected"
    assert c.display_key() != k
    feed.mb.put_status({"type": "status", "hand": "junk", "_rx": 4.0})
    tick(c, feed, 4.1)
    assert c.hand == HandStatus(present=False)


def test_the_game_is_read_only_from_outside() -> None:
    with pytest.raises(AttributeError):
        SessionController().game = None  # type: ignore[misc]


def test_hello_says_whether_hand_enable_is_allowed_and_sessions_are_counted() -> None:
    c, feed = SessionController(), Feed()
    feed.mb.put_hello(dict(HELLO, hand_authorized=False))
    tick(c, feed, 0.0)
    assert c.bridge.hand_authorized is False and c.hello["source"] == "sim:myo3"
    c.start(0.0, level="easy", minutes=2, require_signal=False)
    assert c.sessions_finished == 0
    c.stop(1.0)
    assert c.sessions_finished == 1
