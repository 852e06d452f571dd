"""Mirror decoded commands to a physical hand, through the safety layer.

`HandOutput` is a bridge Output. The pipeline thread only drops decoded values and
status into mailboxes (never blocks on the hand); every decoded value since the last
tick reaches the safety layer, which averages them (its input filter); a dedicated hand thread
ticks the safety layer at a fixed rate (so the watchdog fires even when no samples
arrive), sends the commanded pose to the driver when it changes or at a keepalive
rate, reads feedback and reconnects a lost link with exponential backoff. Nothing is
queued while the link is down: the hand only ever receives the current command.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bridge.backoff import Backoff
from bridge.outputs.base import Output
from bridge.outputs.hand_drivers import HandDriver, HandLinkError, driver_from_url
from bridge.outputs.hand_safety import WINDOW_MAX, HandSafety, HandState, SafetyConfig
from bridge.outputs.pose_map import (
    HandLimits,
    Pose,
    PoseMap,
    PoseMapConfig,
    limits_from_dict,
    load_json_object,
    pose_map_config_from_dict,
)
from bridge.values.sample import Decoded, Sample
from bridge.values.status import HandStatus, PipelineStatus

log = logging.getLogger("bridge.hand")

FEEDBACK_FRESH_S = 1.0
"""Feedback older than this is not trusted to seed the slew limiter."""


@dataclass(slots=True)
class HandConfig:
    """Everything configurable about the hand output (JSON-loadable, see docs/hand.md).

    - tick_hz: rate of the hand thread (safety tick, send, feedback read).
    - keepalive_s: an unchanged pose is re-sent at least this often while moving states
      hold it (lets firmware run its own link watchdog).
    - reconnect_min_s / reconnect_max_s: reconnect backoff, doubling from min to max.
    """

    limits: HandLimits = field(default_factory=HandLimits)
    pose_map: PoseMapConfig = field(default_factory=PoseMapConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    tick_hz: float = 50.0
    keepalive_s: float = 0.5
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 5.0

    def validate(self) -> None:
        self.limits.validate()
        self.pose_map.validate()
        self.safety.validate()
        for name in ("tick_hz", "keepalive_s", "reconnect_min_s", "reconnect_max_s"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not 5.0 <= self.tick_hz <= 1000.0:
            raise ValueError(f"tick_hz must be in 5..1000, got {self.tick_hz}")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HandConfig:
        """Build and validate from the JSON form; missing keys take the defaults."""
        if not isinstance(data, dict):
            raise ValueError("hand config must be a JSON object")
        d = dict(data)
        cfg = cls()
        if "limits" in d:
            cfg.limits = limits_from_dict(d.pop("limits"))
        if "pose_map" in d:
            cfg.pose_map = pose_map_config_from_dict(d.pop("pose_map"))
        if "safety" in d:
            s = d.pop("safety")
            if not isinstance(s, dict):
                raise ValueError("safety must be a JSON object")
            unknown = sorted(set(s) - set(SafetyConfig.__dataclass_fields__))
            if unknown:
                raise ValueError(f"safety: unknown key(s) {unknown}")
            cfg.safety = SafetyConfig(**s)
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"hand config: unknown key(s) {unknown}")
        for k, v in d.items():
            setattr(cfg, k, v)
        cfg.validate()
        return cfg

    @classmethod
    def from_json(cls, path: str | Path) -> HandConfig:
        return cls.from_dict(load_json_object(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HandOutput(Output):
    """Bridge output driving one hand. Thread-safe public methods; see module doc."""

    name = "hand"

    def __init__(
        self,
        driver: HandDriver,
        config: HandConfig | None = None,
        *,
        enabled: bool = False,
        url: str = "",
        clock: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> None:
        self.config = config or HandConfig()
        self.config.validate()
        self.driver = driver
        self.url = url or driver.name
        self._clock = clock
        now = clock()
        lim = self.config.limits
        self._map = PoseMap(self.config.pose_map, lim, driver.has_wrist)
        self._safety = HandSafety(
            lim, self.config.safety, now, has_wrist=driver.has_wrist, enabled=enabled
        )
        self._safety.set_link(False, now)  # up once the first connect succeeds
        # _lock serialises the safety layer and the driver (hand thread vs commands);
        # _mail_lock only guards the tiny pipeline->hand mailboxes.
        self._lock = threading.RLock()
        self._mail_lock = threading.Lock()
        # Every decoded value since the last tick (bounded: the newest are kept).
        self._mail_inputs: deque[tuple[str, float, float, float]] = deque(maxlen=WINDOW_MAX)
        self._mail_source: str | None = None
        self._mail_ready: bool | None = None
        self._link_up = False
        self._link_detail = "not connected yet"
        self._reconnects = 0
        self._connects = 0
        # no jitter: one hand per bridge, and the injected clock keeps tests exact
        self._backoff = Backoff(
            self.config.reconnect_min_s, 2.0, self.config.reconnect_max_s, jitter=0.0
        )
        self._next_attempt = now
        self._feedback: Pose | None = None
        self._feedback_t = -math.inf
        self._fb_seq = -1
        self._last_sent: Pose | None = None
        self._last_delivered: Pose | None = None  # logical, last pose written without error
        self._last_send_t = -math.inf
        self.commands_sent = 0
        self._closed = False
        self._stop_evt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hand-output", daemon=True)
        if start:
            self._thread.start()

    # ---- Output interface (pipeline thread: never blocks on the hand) ----------------

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        if decoded is None:
            return
        item = (
            str(decoded.gesture),
            float(decoded.level),
            float(decoded.confidence),
            self._clock(),
        )
        with self._mail_lock:
            self._mail_inputs.append(item)

    def on_status(self, status: PipelineStatus) -> None:
        # The hold-on-source-loss and decoder-not-ready rules read these typed fields.
        if not isinstance(status, PipelineStatus):  # never let a wrong caller crash the hand
            return
        with self._mail_lock:
            self._mail_source = status.source.state
            self._mail_ready = status.decoder.ready

    def status(self) -> HandStatus:
        """The `hand` part of the bridge's status."""
        return HandStatus.of(self.state_dict())

    def close(self) -> None:
        """Stop the hand thread, halt the motors (stop line) and release the port."""
        if self._closed:
            return
        self._closed = True
        self._stop_evt.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
        with self._lock:
            if self.driver.connected:
                with contextlib.suppress(HandLinkError):
                    self.driver.stop()
            self.driver.close()
        log.info("hand output closed")

    # ---- commands (any thread) -----------------------------------------------------

    def command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]:
        """`enable` (needs `authorized`), `disable`, `stop` or `release` (always allowed).

        Returns (accepted, message). `stop` returns only after the safety layer is in
        ESTOP and the driver's stop line is written: no movement command follows it.
        `release` returns once the layer is RELEASING and the motors are armed; the
        hand thread then opens the hand at `open_speed_pct_s` and keeps it open.
        Thread-safe: any thread may call it.
        """
        act = action.strip().lower() if isinstance(action, str) else ""
        with self._lock:
            now = self._clock()
            if act == "release":
                return self._release(now, who)
            if act == "stop":
                result = self._safety.stop(now, who)
                self._driver_call("stop", now)
                return result
            if act == "disable":
                result = self._safety.disable(now, who)
                self._driver_call("stop", now)
                return result
            if act == "enable":
                fb = self._fresh_feedback(now)
                ok, msg = self._safety.enable(now, authorized, who, feedback=fb)
                if ok and self._safety.enabled:
                    self._driver_call("enable", now)
                    self._last_sent = None
                return ok, msg
        log.warning("hand command %r from %s refused: unknown action", action, who)
        return False, f"unknown hand action {action!r}; use enable, disable, stop or release"

    def _fresh_feedback(self, now: float) -> Pose | None:
        return self._feedback if now - self._feedback_t <= FEEDBACK_FRESH_S else None

    def _release(self, now: float, who: str) -> tuple[bool, str]:
        armed = self._safety.drives_motors
        ok, msg = self._safety.release(now, who, feedback=self._fresh_feedback(now))
        if ok and not armed:
            # After stop/disable the motors are disarmed (generic5 `X`): re-arm them.
            self._driver_call("enable", now)
            self._last_sent = None
        return ok, msg

    def _driver_call(self, what: str, now: float) -> None:
        if not self._link_up:
            return
        try:
            getattr(self.driver, what)()
        except HandLinkError as exc:
            self._link_lost(now, str(exc))

    # ---- status -------------------------------------------------------------------

    @property
    def state(self) -> HandState:
        return self._safety.state

    def state_dict(self) -> dict[str, Any]:
        """The `hand` field of the bridge's status message (JSON-ready)."""
        with self._lock:
            now = self._clock()
            d = self._safety.state_dict(now)
            d.update(
                {
                    "url": self.url,
                    "driver": self.driver.describe(),
                    "connected": self._link_up,
                    "link": "connected" if self._link_up else "disconnected",
                    "link_detail": self._link_detail,
                    "reconnects": self._reconnects,
                    "feedback": None if self._feedback is None else self._feedback.to_dict(),
                    "feedback_age_s": (
                        None if math.isinf(self._feedback_t) else round(now - self._feedback_t, 3)
                    ),
                    "commands_sent": self.commands_sent,
                    "tick_hz": self.config.tick_hz,
                }
            )
            return d

    # ---- hand thread --------------------------------------------------------------

    def _run(self) -> None:
        period = 1.0 / self.config.tick_hz
        next_t = self._clock()
        while not self._stop_evt.is_set():
            try:
                self.step()
            except Exception:  # never let the hand thread die; the link is re-made
                log.exception("hand thread error")
                with self._lock:
                    self._link_lost(self._clock(), "internal error (see log)")
            next_t += period
            delay = next_t - self._clock()
            if delay < -period:  # fell behind: skip ticks instead of bursting
                next_t = self._clock()
                delay = 0.0
            self._stop_evt.wait(max(delay, 0.0))

    def step(self) -> None:
        """One hand-thread iteration (public so tests can drive it with a fake clock)."""
        with self._mail_lock:
            items = list(self._mail_inputs)
            self._mail_inputs.clear()
            src, self._mail_source = self._mail_source, None
            ready, self._mail_ready = self._mail_ready, None
        with self._lock:
            now = self._clock()
            if self._link_up and not self.driver.connected:
                self._link_lost(now, "driver reports the link down")
            if not self._link_up and now >= self._next_attempt:
                self._connect(now)
            if src is not None:
                self._safety.set_source_state(src, now)
            if ready is not None:
                self._safety.set_decoder_ready(ready, now)
            for gesture, level, confidence, t_in in items:
                target = self._map.map(gesture, level, self._safety.commanded)
                self._safety.input(target, t_in, confidence)
            pose = self._safety.tick(now)
            if not self._link_up:
                return
            try:
                if pose is not None and (
                    pose.rounded() != self._last_sent
                    or now - self._last_send_t >= self.config.keepalive_s
                ):
                    self.driver.send(self.config.limits.to_motor(pose))
                    self._last_delivered = pose
                    self._last_sent = pose.rounded()
                    self._last_send_t = now
                    self.commands_sent += 1
                fb = self.driver.feedback()
            except HandLinkError as exc:
                self._link_lost(now, str(exc))
                return
            if fb is not None and fb.is_finite() and self.driver.feedback_seq != self._fb_seq:
                self._fb_seq = self.driver.feedback_seq
                self._feedback = self.config.limits.from_motor(fb)
                self._feedback_t = now
                self._safety.observe_feedback(self._feedback)

    def _connect(self, now: float) -> None:
        try:
            self.driver.connect()
            if self._safety.drives_motors:
                self.driver.enable()
        except HandLinkError as exc:
            self.driver.close()
            delay = self._backoff.next_delay()
            self._link_detail = f"disconnected: {exc}; retry in {delay:.1f} s"
            self._next_attempt = now + delay
            return
        self._link_up = True
        if self._connects:
            self._reconnects += 1
        self._connects += 1
        self._backoff.reset()
        self._link_detail = "connected"
        self._last_sent = None
        self._feedback = None
        self._feedback_t = -math.inf
        log.info("hand %s connected", self.url)
        self._safety.set_link(True, now)

    def _link_lost(self, now: float, detail: str) -> None:
        was = self._link_up
        self._link_up = False
        self.driver.close()
        self._safety.set_link(False, now, self._last_delivered)
        self._last_sent = None
        self._link_detail = f"disconnected: {detail}"
        self._next_attempt = now + self._backoff.next_delay()
        if was:
            log.warning("hand %s link lost: %s", self.url, detail)


def open_hand(url: str, *, enabled: bool = False, config: HandConfig | None = None) -> HandOutput:
    """Open the hand at `url` (`sim` or `serial:PORT?protocol=...&baud=...`).

    Returns a running HandOutput. It starts DISABLED unless `enabled` (the CLI's
    `--hand-enable`). A missing or unplugged port is not an error here: the output
    reports it in `state_dict()` and keeps reconnecting. Raises HandUrlError
    (a ValueError) for a URL it cannot use.
    """
    driver = driver_from_url(url)
    return HandOutput(driver, config, enabled=enabled, url=url)
