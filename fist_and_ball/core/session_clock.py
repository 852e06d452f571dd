"""Play time of a session: caller's clock in, pauses taken out.

The game is stepped with explicit times from whatever clock the caller uses (device
clock for headless runs, `time.monotonic()` live). This clock turns those times into
play time: it never runs while paused and never runs backwards (a clock that jumps back
just yields zero time).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class PauseRecord:
    """One pause: caller times and the reason given (`user`, `disconnected`, ...)."""

    t_pause: float
    reason: str
    t_resume: float | None = None

    @property
    def length_s(self) -> float:
        """Length of the pause so far (0 while still open, until resumed)."""
        return 0.0 if self.t_resume is None else max(self.t_resume - self.t_pause, 0.0)


@dataclass(slots=True)
class SessionClock:
    """Converts caller times into play seconds."""

    started: bool = False
    paused: bool = False
    t_start: float = 0.0
    t_last: float = 0.0
    play_s: float = 0.0
    pauses: list[PauseRecord] = field(default_factory=list)

    def start(self, t: float) -> None:
        """Start the clock at caller time t."""
        if self.started:
            raise RuntimeError("the session clock is already started")
        self.started = True
        self.t_start = self.t_last = float(t)

    def advance(self, t: float) -> float:
        """Move to caller time t; return the play seconds that passed (0 while paused)."""
        t = float(t)
        dt = t - self.t_last
        if dt <= 0.0:
            return 0.0
        self.t_last = t
        if self.paused:
            return 0.0
        self.play_s += dt
        return dt

    def pause(self, t: float, reason: str) -> None:
        """Stop play time at t (already paused: only the first reason is kept)."""
        if self.paused:
            return
        self.t_last = max(self.t_last, float(t))
        self.paused = True
        self.pauses.append(PauseRecord(self.t_last, reason))

    def resume(self, t: float) -> None:
        """Let play time run again from t."""
        if not self.paused:
            return
        self.t_last = max(self.t_last, float(t))
        self.paused = False
        self.pauses[-1].t_resume = self.t_last

    @property
    def paused_s(self) -> float:
        """Total caller time spent paused (closed pauses plus the open one so far)."""
        total = 0.0
        for p in self.pauses:
            total += (self.t_last - p.t_pause) if p.t_resume is None else p.length_s
        return total
