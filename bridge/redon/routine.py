"""The re-don routine (sans-I/O): rest, then each calibrated movement once.

Fed `Sample`s with an injected clock (the sample's device time unless `now` is given),
it says which step is due, what to tell the patient and how far along it is, and keeps
every sample with the step it fell in. No threads, no sockets, no terminal: the CLI
prints its prompts, the bridge sends them to a client, tests feed synthetic sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.values.sample import Sample
from fist_and_ball.protocol_v1 import REST

FLEX_PROMPTS: dict[str, str] = {
    "fingers": "Close your fist fully",
    "wrist": "Bend your wrist fully down (palm side)",
    "thumb": "Bend your thumb fully into the palm",
}
REST_PROMPT = "Relax your hand and arm, keep still"
HOLD_PROMPT = "Hold it"
RELAX_PROMPT = "Relax your hand"
MAX_RATE_HZ = 1200.0
"""Samples kept are bounded by the routine's length at this rate (the device's fastest)."""


@dataclass(frozen=True)
class RoutineTiming:
    """Seconds per part; defaults give 3 + 7 per movement (24 s for three movements)."""

    rest_s: float = 3.0
    flex_s: float = 2.0
    hold_s: float = 1.5
    relax_s: float = 3.5

    @property
    def movement_s(self) -> float:
        return self.flex_s + self.hold_s + self.relax_s


@dataclass(frozen=True)
class Segment:
    """One prompt of the routine: `step` is `rest` or a movement, `phase` rest|flex|hold|relax."""

    step: str
    phase: str
    prompt: str
    start_s: float
    end_s: float


def routine_plan(movements: tuple[str, ...], timing: RoutineTiming) -> tuple[Segment, ...]:
    """The prompts in order: rest, then per movement flex, hold, relax."""
    if not movements:
        raise ValueError("the routine needs at least one movement")
    segs = [Segment(REST, "rest", REST_PROMPT, 0.0, timing.rest_s)]
    t = timing.rest_s
    for m in movements:
        flex = FLEX_PROMPTS.get(m, f"Make the '{m}' movement fully")
        for phase, prompt, dur in (
            ("flex", flex, timing.flex_s),
            ("hold", f"{HOLD_PROMPT}: {flex.lower()}", timing.hold_s),
            ("relax", RELAX_PROMPT, timing.relax_s),
        ):
            segs.append(Segment(m, phase, prompt, t, t + dur))
            t += dur
    return tuple(segs)


@dataclass(frozen=True)
class RoutineStatus:
    """What to show now."""

    step: str
    phase: str
    prompt: str
    progress: float
    remaining_s: float
    done: bool


@dataclass(frozen=True)
class RoutineRecording:
    """The samples of a finished routine, each with the step and phase it fell in."""

    movements: tuple[str, ...]
    plan: tuple[Segment, ...]
    t_s: np.ndarray
    field_ut: np.ndarray
    saturated: np.ndarray
    step: np.ndarray
    phase: np.ndarray
    rate_hz: float

    @property
    def magnitudes(self) -> np.ndarray:
        return np.asarray(np.linalg.norm(self.field_ut, axis=2))

    def settled_rest(self) -> np.ndarray:
        """Indices of the rest step without its first third (the patient settles)."""
        idx = np.flatnonzero(self.step == REST)
        return idx[len(idx) // 3 :]

    def movement(self, name: str) -> np.ndarray:
        """Indices of one movement's step (flex, hold and relax)."""
        return np.flatnonzero(self.step == name)


class RedonRoutine:
    """The guided routine's state machine (see the module docstring)."""

    def __init__(self, movements: tuple[str, ...], timing: RoutineTiming | None = None) -> None:
        self.movements = tuple(movements)
        self.timing = timing or RoutineTiming()
        self.plan = routine_plan(self.movements, self.timing)
        self.total_s = self.plan[-1].end_s
        self._t0: float | None = None
        self._elapsed = 0.0
        self._cap = int(self.total_s * MAX_RATE_HZ) + 1
        self._t: list[float] = []
        self._fields: list[np.ndarray] = []
        self._sat: list[bool] = []
        self._seg: list[int] = []
        self._n_sensors: int | None = None

    @property
    def done(self) -> bool:
        return self._elapsed >= self.total_s

    def _segment_index(self, elapsed: float) -> int:
        for i, s in enumerate(self.plan):
            if elapsed < s.end_s:
                return i
        return len(self.plan) - 1

    def feed(self, sample: Sample, now: float | None = None) -> RoutineStatus:
        """Take one sample at time `now` (default: its device time); returns the status."""
        t = float(sample.t_device if now is None else now)
        if self._t0 is None:
            self._t0 = t
        if self.done:
            return self.status()
        elapsed = max(0.0, t - self._t0)
        self._elapsed = max(self._elapsed, elapsed)
        if self.done:
            return self.status()
        if self._n_sensors is None:
            self._n_sensors = sample.n_sensors
        elif sample.n_sensors != self._n_sensors:
            raise ValueError(
                f"the sensor count changed during the routine ({self._n_sensors} -> "
                f"{sample.n_sensors})"
            )
        if len(self._t) < self._cap:
            self._t.append(elapsed)
            self._fields.append(np.array(sample.field_ut, dtype=np.float64))
            self._sat.append(bool(sample.saturated))
            self._seg.append(self._segment_index(elapsed))
        return self.status()

    def status(self) -> RoutineStatus:
        seg = self.plan[self._segment_index(self._elapsed)]
        done = self.done
        return RoutineStatus(
            step=seg.step,
            phase=seg.phase,
            prompt="Done: relax" if done else seg.prompt,
            progress=min(1.0, self._elapsed / self.total_s),
            remaining_s=max(0.0, self.total_s - self._elapsed),
            done=done,
        )

    def recording(self) -> RoutineRecording:
        """The samples so far (normally called once `done`); ValueError when empty."""
        if not self._t:
            raise ValueError("no samples were received during the routine")
        t = np.asarray(self._t)
        span = t[-1] - t[0]
        rate = (len(t) - 1) / span if span > 0 else 0.0
        seg = np.asarray(self._seg)
        return RoutineRecording(
            movements=self.movements,
            plan=self.plan,
            t_s=t,
            field_ut=np.stack(self._fields),
            saturated=np.asarray(self._sat, dtype=bool),
            step=np.asarray([self.plan[i].step for i in seg], dtype=object),
            phase=np.asarray([self.plan[i].phase for i in seg], dtype=object),
            rate_hz=rate,
        )
