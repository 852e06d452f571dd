"""The hand safety layer: a pure state machine between the decoder and the hand driver.

No threads, no I/O, no clock: every call takes `now` (seconds, monotonic) explicitly,
so the behaviour is deterministic and testable. The hand thread in `hand_output`
feeds it decoded targets and status, calls `tick(now)` at a fixed rate and sends
whatever pose `tick` returns (None = send no movement command).

States (see docs/hand.md for the diagram):

- DISABLED: initial. No commands. Left only by an authorized `enable`.
- BLOCKED: just enabled, but the decoder is not ready (calibration or model missing or
  invalid, wrong device, or readiness not reported yet). No commands; after `hold_s`
  with a known pose it opens slowly (OPENING) like any other loss of input.
- ACTIVE: following the decoder, clamped to limits and slew-limited per finger.
- HOLDING: no valid input for longer than the watchdog (silence, dead sensor, NaN, low
  confidence), the source reported trouble, the decoder stopped being ready, or the
  hand link dropped: keep the last commanded pose.
- OPENING: held for `hold_s` without usable input: open slowly to the safe open pose.
- ESTOP: emergency stop (freeze: worm gears hold). No commands until `enable`.
- RELEASING / RELEASED: the patient lets go: open at `open_speed_pct_s` to the open
  pose (RELEASING), then keep it (RELEASED). Only `enable`, `stop` or `disable` leave.

Input filter: every accepted input since the previous tick (and at most `watchdog_s`
old) is averaged per degree of freedom at the tick; the hand follows that mean. A
stream faster than the tick rate therefore cannot alias onto one extreme.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from bridge.outputs.pose_map import HandLimits, Pose, PoseTarget

log = logging.getLogger("bridge.hand.safety")


class HandState(StrEnum):
    DISABLED = "disabled"
    BLOCKED = "blocked"
    ACTIVE = "active"
    HOLDING = "holding"
    OPENING = "opening"
    ESTOP = "estop"
    RELEASING = "releasing"
    RELEASED = "released"


RELEASE_STATES = frozenset({HandState.RELEASING, HandState.RELEASED})
MOVING_STATES = frozenset({HandState.ACTIVE, HandState.HOLDING, HandState.OPENING, *RELEASE_STATES})
"""States in which the layer emits poses (HOLDING/RELEASED re-emit the held pose)."""

STICKY_STATES = frozenset({HandState.DISABLED, HandState.ESTOP, *RELEASE_STATES})
"""States that no input, source, decoder or link event leaves: only a command does."""

SOURCE_OK_STATES = frozenset({"connected"})

WINDOW_MAX = 1024
"""Accepted inputs kept between two ticks (400 Hz for 2.5 s); older ones are dropped."""


@dataclass(slots=True)
class SafetyConfig:
    """Times and limits of the safety layer (defaults are the documented ones).

    - watchdog_s: ACTIVE -> HOLDING when no valid decoded input arrived for this long.
    - hold_s: HOLDING (or BLOCKED) -> OPENING after holding this long.
    - open_speed_pct_s: speed cap while OPENING and RELEASING (slow, per finger).
    - max_step_dt_s: the slew limiter never integrates more than this much time in one
      tick, so a stalled hand thread cannot produce a jump when it wakes up.
    - min_confidence: decoded samples below this confidence count as no input
      (confidence 0 never counts, whatever this says).
    - history: length of the ring of recent transitions and command events.
    """

    watchdog_s: float = 0.2
    hold_s: float = 1.5
    open_speed_pct_s: float = 20.0
    max_step_dt_s: float = 0.1
    # 0.2: above a 9-way classifier's know-nothing answer (1/9 = 0.11, MCNN) and a QG
    # sample within a quarter of the noise sigma of a threshold (erf(0.18) = 0.2); such
    # samples are rare and isolated while a dead sensor reports 0 continuously.
    min_confidence: float = 0.2
    history: int = 32

    def validate(self) -> None:
        for name in ("watchdog_s", "hold_s", "open_speed_pct_s", "max_step_dt_s"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"safety.{name} must be a positive number, got {v!r}")
        mc = self.min_confidence
        if not isinstance(mc, int | float) or not 0.0 <= mc <= 1.0:
            raise ValueError(f"safety.min_confidence must be in 0..1, got {mc!r}")
        if not isinstance(self.history, int) or self.history < 1:
            raise ValueError("safety.history must be a positive integer")


def _step(current: float, target: float, max_step: float) -> float:
    if target > current:
        return min(target, current + max_step)
    return max(target, current - max_step)


class HandSafety:
    """The safety state machine. Not thread-safe: the owner serialises calls."""

    def __init__(
        self,
        limits: HandLimits,
        config: SafetyConfig,
        now: float,
        *,
        has_wrist: bool = False,
        enabled: bool = False,
    ) -> None:
        limits.validate()
        config.validate()
        self.limits = limits
        self.config = config
        self.has_wrist = has_wrist
        self.open_pose = limits.open_pose(has_wrist)
        self.state = HandState.DISABLED
        self.reason = "starts disabled"
        self._since = now
        self._last_tick = now
        self._commanded = self.open_pose
        self._target: PoseTarget | None = None
        # Accepted inputs since the last tick, (arrival time, clamped target).
        self._window: deque[tuple[float, PoseTarget]] = deque(maxlen=WINDOW_MAX)
        self.inputs_last_tick = 0
        self._last_input_t = -math.inf
        self._last_reject: tuple[float, str] | None = None
        self._resume_after = -math.inf
        self._source_state: str | None = None
        self._decoder_ready: bool | None = None
        self._link_ok = True
        # Without feedback the hand's position is unknown until we first command it;
        # HOLDING/OPENING then send nothing (we only hold or open what we moved).
        self._pose_known = False
        self.rejected = 0
        self.transitions: deque[dict[str, Any]] = deque(maxlen=config.history)
        self.events: deque[dict[str, Any]] = deque(maxlen=config.history)
        if enabled:
            self._enable(now, "enabled at start (--hand-enable)")

    # ---- inputs -------------------------------------------------------------------

    def input(self, target: PoseTarget, now: float, confidence: float = 1.0) -> bool:
        """A decoded target. Returns False (and counts it) when rejected: NaN/inf values,
        confidence 0, NaN or below `min_confidence`. Rejected input is no input: it does
        not feed the watchdog, so a dead sensor ends in HOLDING and then OPENING."""
        why = self._invalid(target, confidence)
        if why is not None:
            self.rejected += 1
            self._last_reject = (now, why)
            return False
        self._window.append(
            (now, PoseTarget(self.limits.clamp(target.pose), target.speed_cap_pct_s))
        )
        self._last_input_t = now
        self._evaluate(now)
        return True

    def _invalid(self, target: PoseTarget, confidence: float) -> str | None:
        """Why an input cannot be used, or None when it can."""
        if not math.isfinite(confidence) or confidence <= 0.0:
            return f"confidence {confidence:g}"
        if confidence < self.config.min_confidence:
            return f"confidence {confidence:.2f} < min_confidence {self.config.min_confidence:g}"
        if not target.pose.is_finite():
            return "non-finite target"
        cap = target.speed_cap_pct_s
        if cap is not None and not (math.isfinite(cap) and cap > 0):
            return f"speed cap {cap!r}"
        if (target.pose.wrist is not None) != self.has_wrist:
            return "wrist value does not match the hand"
        return None

    def set_source_state(self, state: str | None, now: float) -> None:
        """The source state from the pipeline status ('connecting' | 'connected' |
        'disconnected' | 'ended'); anything but 'connected' stops the hand following."""
        if state == self._source_state:
            return
        self._source_state = state
        self._evaluate(now)

    def set_decoder_ready(self, ready: bool, now: float) -> None:
        """Decoder readiness from the status; not ready (e.g. wrong device) holds, then opens."""
        if ready == self._decoder_ready:
            return
        self._decoder_ready = bool(ready)
        self._evaluate(now)

    def set_link(self, ok: bool, now: float, hand_pose: Pose | None = None) -> None:
        """The hand link went down or came back. `hand_pose` (logical) is where the hand
        is known to be: on the way down, the last pose actually delivered (a pose the
        driver failed to write never reached the hand); on the way up, the hand's
        reported position. The slew limiter continues from it."""
        if ok == self._link_ok:
            return
        self._link_ok = ok
        self._reseed(hand_pose)
        if ok:
            # Input that arrived while the hand was unreachable must not move it when it
            # comes back: only input received after the reconnect resumes following.
            self._resume_after = now
            self._window.clear()
        self._evaluate(now)

    def observe_feedback(self, feedback: Pose) -> None:
        """A position the hand reported (logical). Used only to learn where the hand is
        when no command has fixed that yet; never moves the commanded pose otherwise."""
        if not self._pose_known:
            self._reseed(feedback)

    def _reseed(self, feedback: Pose | None) -> None:
        if feedback is not None and feedback.is_finite():
            if (feedback.wrist is None) != (not self.has_wrist):
                wrist = self._commanded.wrist
                feedback = Pose(feedback.fingers, wrist)
            self._commanded = self.limits.clamp(feedback)
            self._pose_known = True

    # ---- commands -----------------------------------------------------------------

    def enable(
        self, now: float, authorized: bool, who: str = "client", feedback: Pose | None = None
    ) -> tuple[bool, str]:
        """Enable following (the only way out of ESTOP and RELEASED). Needs `authorized`.

        `feedback` (logical) seeds the slew limiter with the hand's real position."""
        if not authorized:
            msg = f"enable refused: {who} is not authorized to enable the hand"
            self._event(now, "enable", False, msg)
            log.warning("hand %s", msg)
            return False, msg
        if self.enabled:
            self._event(now, "enable", True, "already enabled")
            return True, f"already enabled ({self.state.value})"
        self._enable(now, f"enabled by {who}", feedback)
        self._event(now, "enable", True, f"by {who}")
        return True, f"enabled ({self.state.value})"

    def _enable(self, now: float, reason: str, feedback: Pose | None = None) -> None:
        self._reseed(feedback)
        # Input from before the enable must not move the hand: require fresh input.
        self._target = None
        self._window.clear()
        self._last_input_t = -math.inf
        blocked = self._blocked_reason()
        if blocked is not None:
            self._set(HandState.BLOCKED, now, f"{reason}; {blocked}")
        else:
            self._set(HandState.HOLDING, now, reason)
        self._evaluate(now)

    def disable(self, now: float, who: str = "client") -> tuple[bool, str]:
        """Stop following and send nothing (any client may disable)."""
        self._event(now, "disable", True, f"by {who}")
        if self.state != HandState.DISABLED:
            self._set(HandState.DISABLED, now, f"disabled by {who}")
        return True, "disabled"

    def stop(self, now: float, who: str = "client") -> tuple[bool, str]:
        """Emergency stop from any state: no movement commands until `enable`."""
        self._event(now, "stop", True, f"by {who}")
        if self.state != HandState.ESTOP:
            self._set(HandState.ESTOP, now, f"emergency stop by {who}")
        return True, "stopped; send enable to resume"

    def release(
        self, now: float, who: str = "client", feedback: Pose | None = None
    ) -> tuple[bool, str]:
        """Let go, from any state (any client may): open at `open_speed_pct_s` to the
        open pose, then keep it. Decoder input never resumes following; `enable` does.

        Refused only when the hand's position is unknown (never moved by the bridge, no
        feedback): the layer cannot open slowly from an unknown pose."""
        self._reseed(feedback)
        if not self._pose_known:
            msg = "release refused: the hand's position is unknown (the bridge has not moved it)"
            self._event(now, "release", False, msg)
            log.warning("hand %s (asked by %s)", msg, who)
            return False, msg
        self._event(now, "release", True, f"by {who}")
        if self.state not in RELEASE_STATES:
            self._set(HandState.RELEASING, now, f"release by {who}: opening slowly")
        return True, f"{self.state.value}: opening slowly; send enable to follow again"

    # ---- time ---------------------------------------------------------------------

    def tick(self, now: float) -> Pose | None:
        """Advance to `now`; return the pose to command, or None for no command."""
        dt = min(max(now - self._last_tick, 0.0), self.config.max_step_dt_s)
        self._last_tick = now
        self._fold_window(now)
        self._evaluate(now)
        if self.state not in MOVING_STATES or not self._link_ok:
            return None
        if self.state == HandState.ACTIVE and self._target is not None:
            self._commanded = self._slew(self._target.pose, self._target.speed_cap_pct_s, dt)
            self._pose_known = True
        elif not self._pose_known:
            return None
        elif self.state in (HandState.OPENING, *RELEASE_STATES):
            self._commanded = self._slew(self.open_pose, self.config.open_speed_pct_s, dt)
            if self.state == HandState.RELEASING and self._commanded == self.open_pose:
                self._set(HandState.RELEASED, now, "released: the hand is open")
        return self._commanded

    def _fold_window(self, now: float) -> None:
        """The tick's input filter: the mean, per degree of freedom, of the accepted
        inputs since the last tick that are at most `watchdog_s` old; the speed cap is
        the smallest cap among them. No inputs: the target stays as it was."""
        window = self._window
        oldest = now - self.config.watchdog_s
        entries = [tp for t, tp in window if t >= oldest]
        window.clear()
        self.inputs_last_tick = len(entries)
        if not entries:
            return
        n = len(entries)
        fingers = tuple(
            sum(col) / n for col in zip(*(tp.pose.fingers for tp in entries), strict=True)
        )
        wrist = None
        if self.has_wrist:
            wrist = sum(tp.pose.wrist for tp in entries if tp.pose.wrist is not None) / n
        caps = [tp.speed_cap_pct_s for tp in entries if tp.speed_cap_pct_s is not None]
        pose = self.limits.clamp(Pose(fingers, wrist))  # type: ignore[arg-type]
        self._target = PoseTarget(pose, min(caps) if caps else None)

    def _slew(self, target: Pose, cap: float | None, dt: float) -> Pose:
        cur = self._commanded
        fingers = []
        for lim, c, t in zip(self.limits.fingers, cur.fingers, target.fingers, strict=True):
            speed = lim.max_speed_pct_s if cap is None else min(cap, lim.max_speed_pct_s)
            fingers.append(lim.clamp(_step(c, t, speed * dt)))
        wrist = cur.wrist
        if wrist is not None and target.wrist is not None:
            wl = self.limits.wrist
            speed = wl.max_speed_pct_s if cap is None else min(cap, wl.max_speed_pct_s)
            wrist = wl.clamp(_step(wrist, target.wrist, speed * dt))
        return Pose(tuple(fingers), wrist)  # type: ignore[arg-type]

    # ---- transitions --------------------------------------------------------------

    def _blocked_reason(self) -> str | None:
        if self._decoder_ready is None:
            return "decoder readiness not reported yet"
        if not self._decoder_ready:
            return "decoder not ready (calibration or model missing or invalid, or wrong device)"
        return None

    def _hold_reason(self, now: float) -> str | None:
        if not self._link_ok:
            return "hand link lost"
        # allow-list: a state added later (e.g. the pipeline's `failed`) holds too
        if self._source_state is not None and self._source_state not in SOURCE_OK_STATES:
            return f"source {self._source_state}"
        blocked = self._blocked_reason()
        if blocked is not None:
            return blocked
        if now - self._last_input_t > self.config.watchdog_s:
            why = f"no valid decoded input for {self.config.watchdog_s * 1000:.0f} ms (watchdog)"
            if self._last_reject is not None and self._last_reject[0] > self._last_input_t:
                why += f"; last input rejected: {self._last_reject[1]}"
            return why
        return None

    def _evaluate(self, now: float) -> None:
        if self.state in STICKY_STATES:
            return
        if self.state == HandState.BLOCKED:
            blocked = self._blocked_reason()
            if blocked is None:
                self._set(HandState.HOLDING, now, "decoder ready; waiting for fresh input")
            elif self._pose_known and now - self._since >= self.config.hold_s:
                self._set(HandState.OPENING, now, f"blocked {self.config.hold_s:g} s: {blocked}")
                return
            else:
                if not self.reason.endswith(blocked):
                    self.reason = blocked  # still blocked, for a more specific reason
                    log.info("hand blocked: %s", blocked)
                return
        hold = self._hold_reason(now)
        if self.state == HandState.ACTIVE:
            if hold is not None:
                self._set(HandState.HOLDING, now, hold)
        elif self.state in (HandState.HOLDING, HandState.OPENING):
            # Resume only on input that arrived after the hold began.
            fresh_since = max(self._since, self._resume_after)
            has_input = self._target is not None or bool(self._window)
            if hold is None and has_input and self._last_input_t >= fresh_since:
                self._set(HandState.ACTIVE, now, "fresh decoded input")
            elif self.state == HandState.HOLDING and now - self._since >= self.config.hold_s:
                why = hold or "no fresh input"
                self._set(HandState.OPENING, now, f"held {self.config.hold_s:g} s: {why}")

    def _set(self, state: HandState, now: float, reason: str) -> None:
        old = self.state
        self.state = state
        self.reason = reason
        self._since = now
        entry = {"t": round(now, 4), "from": old.value, "to": state.value, "reason": reason}
        self.transitions.append(entry)
        protective = state in (HandState.ESTOP, HandState.OPENING, HandState.RELEASING) or (
            state == HandState.HOLDING and old == HandState.ACTIVE
        )
        level = logging.WARNING if protective else logging.INFO
        log.log(level, "hand %s -> %s: %s", old.value, state.value, reason)

    def _event(self, now: float, action: str, accepted: bool, detail: str) -> None:
        self.events.append(
            {"t": round(now, 4), "action": action, "accepted": accepted, "detail": detail}
        )

    # ---- views --------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """True while the layer may follow the decoder (not DISABLED, ESTOP or releasing)."""
        return self.state not in STICKY_STATES

    @property
    def drives_motors(self) -> bool:
        """True while the motors must be armed: enabled, or releasing."""
        return self.state not in (HandState.DISABLED, HandState.ESTOP)

    @property
    def commanded(self) -> Pose:
        """The pose last commanded (or, before any command, assumed: the open pose)."""
        return self._commanded

    def state_dict(self, now: float) -> dict[str, Any]:
        target = None if self._target is None else self._target.pose.to_dict()
        return {
            "state": self.state.value,
            "enabled": self.enabled,
            "reason": self.reason,
            "since_s": round(max(now - self._since, 0.0), 3),
            "pose": self._commanded.to_dict(),
            "target": target,
            "source_state": self._source_state,
            "decoder_ready": self._decoder_ready,
            "link_ok": self._link_ok,
            "pose_known": self._pose_known,
            "input_age_s": (
                None if math.isinf(self._last_input_t) else round(now - self._last_input_t, 3)
            ),
            "rejected_inputs": self.rejected,
            "last_rejected": None if self._last_reject is None else self._last_reject[1],
            "inputs_last_tick": self.inputs_last_tick,
            "config": asdict(self.config),
            "transitions": list(self.transitions),
            "events": list(self.events),
        }
