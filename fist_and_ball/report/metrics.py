"""Control metrics of one session, computed from its timeline (no bpy, numpy only).

Names follow the motor-control / BCI / myoelectric-control literature; docs/metrics.md
gives the exact formulas and conventions. In short:

- the ball's target grade is cut into *moves* (rises and falls between turning points);
  an up-and-down *cycle* (a trial) ends where a fall ends, as the game counts cycles;
- *time to catch* (selection time): from the start of a cycle to the first catch in it,
  for cycles that did not start with the ball already held; *time to zone*: to the first
  sample in the catch zone; *re-catch time*: from a drop to the next catch;
- *hold stability*: standard deviation of the grade error (grade - target) while
  holding (with the ball still, that is the grade's own standard deviation);
- *overshoot*: how far the grade passes the nearest grade to a turning point;
- *tracking error*: RMS and mean absolute value of grade - target over play time;
- *path efficiency*: net grade change / grade path travelled, on moves that end in the
  catch zone; *tracking lag*: the delay of the grade behind the target that minimises
  the RMS error.

Every timeline row stands for the play time until the next row (zero-order hold, as the
game itself plays its input), so irregular tick rates and paused rows are weighted
correctly. A metric that cannot be defined (no catch, no hold, ...) is None.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..core.levels import MAX_GRADE
from ..core.score_reader import Timeline

_EPS = 1e-6
"""Target changes smaller than this are 'no change' (the CSV keeps 3 decimals)."""
LAG_MAX_S = 2.0
"""Longest tracking lag searched."""
LAG_STEP_S = 0.02
"""Resolution of the tracking-lag search (and of its resampling grid)."""
LAG_MIN_PLAY_S = 10.0
"""Tracking lag is only estimated on at least this much play time."""


class MetricsError(ValueError):
    """A timeline cannot be analysed at all (no usable rows); the message says why."""


@dataclass(slots=True)
class TimelineArrays:
    """The columns the metrics need, as float arrays over the *played* rows only.

    `tp` is play time (s), `w` each row's weight in seconds (time until the next row,
    0 for disconnected rows), `holding`/`in_zone` are booleans.
    """

    tp: np.ndarray
    target: np.ndarray
    grade: np.ndarray
    holding: np.ndarray
    in_zone: np.ndarray
    w: np.ndarray

    def __len__(self) -> int:
        return len(self.tp)


@dataclass(frozen=True, slots=True)
class Move:
    """One monotonic stretch of the target: rows `i0` (turning point it leaves) to `i1`
    (turning point it reaches), direction +1 (rise, closing) or -1 (fall, opening).
    `complete` is False for a last move still under way when the timeline ends."""

    i0: int
    i1: int
    direction: int
    start: float
    end: float
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Trial:
    """One up-and-down cycle: rows `b0`..`b1`, play times `t0`..`t1`.

    `complete` is False for the last cycle when the session ended inside it. `carried`
    means the ball was already held when the cycle began. Times are None when there was
    no zone entry / no catch in the cycle.
    """

    b0: int
    b1: int
    t0: float
    t1: float
    complete: bool
    carried: bool
    time_to_zone_s: float | None
    time_to_catch_s: float | None


@dataclass(slots=True)
class SessionMetrics:
    """Per-session control metrics (None = undefined for this session; see docs/metrics.md)."""

    play_s: float
    trials: int
    """Cycles counted: complete ones, plus the last partial one if it had a catch."""
    trials_carried: int
    """Cycles that began with the ball already held (no new catch needed)."""
    trials_caught: int
    """Cycles not carried in which the ball was caught."""
    trials_missed: int
    """Complete cycles, not carried, with no catch."""
    time_to_zone_median_s: float | None
    time_to_catch_median_s: float | None
    time_to_catch_mean_s: float | None
    recatch_median_s: float | None
    recatches: int
    hold_s: float
    hold_sd: float | None
    """Hold stability: SD of grade - target while holding (grades)."""
    hold_bias: float | None
    overshoot_mean: float | None
    overshoot_max: float | None
    overshoot_moves: int
    rms_error: float | None
    mae: float | None
    bias: float | None
    path_efficiency: float | None
    path_moves: int
    tracking_lag_s: float | None
    in_zone_fraction: float | None
    grade_seconds: list[float] = field(default_factory=list)
    """Play time spent at each grade 0..8 (the grade histogram)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for CSV/JSON export)."""
        return asdict(self)


# -- reading the timeline -----------------------------------------------------------------
def _column(tl: Timeline, name: str) -> np.ndarray | None:
    """A column as float64 (NaN for empty cells), None if the timeline lacks it."""
    if name not in tl.columns:
        return None
    try:
        # Fast path: every cell is a number (the usual case, ~4x faster than per-cell checks).
        return np.array([float(c) for c in tl.column(name)], dtype=np.float64)
    except ValueError:
        return tl.numeric(name)


def arrays_from_timeline(tl: Timeline) -> TimelineArrays:
    """Pick and clean the columns the metrics use.

    Rows that are paused or lack a grade or target are dropped. Play time is `t_play`
    when the timeline has it, else `t` with paused stretches taken out. Raises
    MetricsError if nothing is left (e.g. an empty or foreign timeline).
    """
    n = len(tl)
    if n == 0:
        raise MetricsError("the timeline has no rows")
    target = _column(tl, "target_grade")
    if target is None:
        height = _column(tl, "ball_height")
        if height is None:
            raise MetricsError("the timeline has neither target_grade nor ball_height")
        target = MAX_GRADE * height
    grade = _column(tl, "grade")
    if grade is None:
        raise MetricsError("the timeline has no grade column")
    ones = np.ones(n)
    paused = _column(tl, "paused")
    paused = np.zeros(n) if paused is None else np.nan_to_num(paused, nan=0.0)
    connected = _column(tl, "connected")
    connected = ones if connected is None else np.nan_to_num(connected, nan=1.0)
    holding = _column(tl, "holding")
    holding = np.zeros(n) if holding is None else np.nan_to_num(holding, nan=0.0)
    in_zone = _column(tl, "in_zone")
    in_zone = np.zeros(n) if in_zone is None else np.nan_to_num(in_zone, nan=0.0)

    tp = _column(tl, "t_play")
    if tp is None or not np.isfinite(tp).any():
        t = _column(tl, "t")
        if t is None or not np.isfinite(t).any():
            raise MetricsError("the timeline has no usable time column (t_play or t)")
        # Play time = caller time with the paused stretches taken out.
        dt = np.diff(t, prepend=t[0])
        dt = np.where(np.isfinite(dt) & (dt > 0) & (paused < 0.5), dt, 0.0)
        tp = np.cumsum(dt)
    keep = (paused < 0.5) & np.isfinite(tp) & np.isfinite(target) & np.isfinite(grade)
    if not keep.any():
        raise MetricsError("the timeline has no played rows with a grade and a target")
    tp, target, grade = tp[keep], target[keep], grade[keep]
    holding, in_zone, connected = holding[keep] > 0.5, in_zone[keep] > 0.5, connected[keep]
    # Each row holds until the next one (zero-order hold); the last one for a typical step.
    step = np.diff(tp)
    step = np.where(step > 0, step, 0.0)
    positive = step[step > 0]
    last = float(np.median(positive)) if positive.size else 0.0
    w = np.append(step, last)
    w = np.where(connected > 0.5, w, 0.0)  # a stale grade while disconnected says nothing
    return TimelineArrays(tp, target, grade, holding, in_zone, w)


# -- structure of the ball's path --------------------------------------------------------
def segment_moves(target: np.ndarray) -> list[Move]:
    """Cut the target into monotonic moves between turning points (pauses separate them
    only if the direction changes)."""
    d = np.diff(target)
    sign = np.where(d > _EPS, 1, np.where(d < -_EPS, -1, 0))
    moves: list[Move] = []
    cur = 0
    i0 = i1 = 0
    for k in np.flatnonzero(sign):
        s = int(sign[k])
        if s == cur:
            i1 = int(k) + 1
            continue
        if cur != 0:
            moves.append(Move(i0, i1, cur, float(target[i0]), float(target[i1])))
        cur, i0, i1 = s, int(k), int(k) + 1
    if cur != 0:
        # Still moving at the last row: the session ended inside this move.
        done = i1 < len(target) - 1
        moves.append(Move(i0, i1, cur, float(target[i0]), float(target[i1]), done))
    return moves


def _events(flag: np.ndarray, rising: bool) -> np.ndarray:
    """Row indices where a boolean flag turns on (rising) or off; row 0 counts as on."""
    prev = np.concatenate(([False], flag[:-1]))
    return np.flatnonzero(flag & ~prev) if rising else np.flatnonzero(~flag & prev)


def find_trials(a: TimelineArrays, moves: list[Move]) -> list[Trial]:
    """The up-and-down cycles with their time to zone and time to catch.

    A cycle ends at the row where a fall ends (the game counts a cycle there); the first
    begins at play time 0. Catches inside a cycle are the rows where holding turns on
    after its first row; a hold already on at that first row is *carried*.
    """
    n = len(a)
    ends = [m.i1 for m in moves if m.direction < 0 and m.complete]
    bounds = [0, *ends]
    complete_last = bounds[-1] == n - 1 and len(bounds) > 1
    if bounds[-1] != n - 1:
        bounds.append(n - 1)
    catches = _events(a.holding, rising=True)
    trials: list[Trial] = []
    for j in range(len(bounds) - 1):
        b0, b1 = bounds[j], bounds[j + 1]
        first = b0 if j == 0 else b0 + 1
        t0 = 0.0 if j == 0 else float(a.tp[b0])
        carried = j > 0 and bool(a.holding[b0])
        complete = j < len(bounds) - 2 or complete_last
        zone_rows = np.flatnonzero(a.in_zone[b0 : b1 + 1])
        ttz = float(a.tp[b0 + zone_rows[0]]) - t0 if zone_rows.size and not carried else None
        inside = catches[(catches >= first) & (catches <= b1)]
        ttc = float(a.tp[inside[0]]) - t0 if inside.size and not carried else None
        trials.append(Trial(b0, b1, t0, float(a.tp[b1]), complete, carried, _pos(ttz), _pos(ttc)))
    return trials


def _pos(x: float | None) -> float | None:
    return None if x is None else max(x, 0.0)


# -- the metrics -------------------------------------------------------------------------
def _wmean(x: np.ndarray, w: np.ndarray) -> float | None:
    total = float(w.sum())
    return float((w * x).sum() / total) if total > 0 else None


def _nearest_grade(x: float) -> int:
    """Grade nearest a target value (halves round up, like the hand's closure)."""
    return int(min(max(math.floor(x + 0.5), 0), MAX_GRADE))


def overshoots(a: TimelineArrays, moves: list[Move]) -> list[float]:
    """Overshoot of each move, in grades (see docs/metrics.md for the rules).

    Reference r = the grade nearest the turning point the move reaches. Window: from the
    move's start to the start of the next move in the same direction (or the end). The
    grade must cross r from the approach side inside the window; overshoot is how far it
    then goes past r (0 if it never reaches r). Moves whose r is at the end of the range
    (0 or 8, where the grade cannot pass) or that the grade never approached from the
    right side are left out.
    """
    out: list[float] = []
    n = len(a)
    for k, m in enumerate(moves):
        if not m.complete:
            continue
        r = _nearest_grade(m.end)
        if (m.direction > 0 and r >= MAX_GRADE) or (m.direction < 0 and r <= 0):
            continue  # censored: the grade range ends here
        stop = moves[k + 2].i0 if k + 2 < len(moves) else n - 1
        g = a.grade[m.i0 : stop + 1] * m.direction  # make every move a rise
        ref = r * m.direction
        below = np.flatnonzero(g < ref)
        if below.size == 0:
            continue  # never approached from below: no overshoot to measure
        after = g[below[0] :]
        reached = np.flatnonzero(after >= ref)
        out.append(float(after[reached[0] :].max() - ref) if reached.size else 0.0)
    return out


def path_efficiency(a: TimelineArrays, moves: list[Move]) -> tuple[float | None, int]:
    """Net grade change / grade path, summed over moves that end in the catch zone.

    Window of a move: its start to the next move's start (the turning-point pause
    included). Moves with no grade change are left out. Returns (efficiency, moves used).
    """
    net = path = 0.0
    used = 0
    n = len(a)
    for k, m in enumerate(moves):
        if not m.complete:
            continue
        stop = moves[k + 1].i0 if k + 1 < len(moves) else n - 1
        if not a.in_zone[stop]:
            continue
        g = a.grade[m.i0 : stop + 1]
        travelled = float(np.abs(np.diff(g)).sum())
        if travelled <= 0:
            continue
        net += abs(float(g[-1] - g[0]))
        path += travelled
        used += 1
    return (net / path if path > 0 else None), used


def tracking_lag(a: TimelineArrays) -> float | None:
    """Delay (s) of the grade behind the target that minimises the RMS error, 0..2 s."""
    if a.tp[-1] - a.tp[0] < LAG_MIN_PLAY_S or np.ptp(a.target) <= 0:
        return None
    grid = np.arange(a.tp[0], a.tp[-1], LAG_STEP_S)
    # Zero-order hold for the grade (as played), linear for the smooth target.
    idx = np.searchsorted(a.tp, grid, side="right") - 1
    g = a.grade[np.clip(idx, 0, len(a) - 1)]
    ok = a.w[np.clip(idx, 0, len(a) - 1)] > 0
    tgt = np.interp(grid, a.tp, a.target)
    best: tuple[float, float] | None = None
    for s in range(round(LAG_MAX_S / LAG_STEP_S) + 1):
        e = g[s:] - tgt[: len(tgt) - s]
        m = ok[s:] & ok[: len(ok) - s]
        if m.sum() < 10:
            break
        rms = float(np.sqrt(np.mean(e[m] ** 2)))
        if best is None or rms < best[0] - 1e-12:
            best = (rms, s * LAG_STEP_S)
    return None if best is None else round(best[1], 3)


def grade_seconds(a: TimelineArrays) -> list[float]:
    """Play time (s) spent at each grade 0..8."""
    g = np.clip(np.rint(a.grade), 0, MAX_GRADE).astype(int)
    return [float(v) for v in np.bincount(g, weights=a.w, minlength=MAX_GRADE + 1)]


def compute_metrics(source: Timeline | TimelineArrays) -> SessionMetrics:
    """All control metrics of one session's timeline. Raises MetricsError if unusable."""
    a = source if isinstance(source, TimelineArrays) else arrays_from_timeline(source)
    moves = segment_moves(a.target)
    trials = find_trials(a, moves)
    counted = [t for t in trials if t.complete or t.time_to_catch_s is not None]
    fresh = [t for t in counted if not t.carried]
    ttc = [t.time_to_catch_s for t in fresh if t.time_to_catch_s is not None]
    ttz = [t.time_to_zone_s for t in fresh if t.time_to_zone_s is not None]
    # Re-catch: from each drop to the next catch (a drop with no later catch is censored).
    drops = _events(a.holding, rising=False)
    catches = _events(a.holding, rising=True)
    recatch: list[float] = []
    for d in drops:
        later = catches[catches > d]
        if later.size:
            recatch.append(float(a.tp[later[0]] - a.tp[d]))

    err = a.grade - a.target
    w = a.w
    hw = np.where(a.holding, w, 0.0)
    hold_mean = _wmean(err, hw)
    hold_sd = (
        math.sqrt(max(_wmean((err - hold_mean) ** 2, hw) or 0.0, 0.0))
        if hold_mean is not None
        else None
    )
    ms = _wmean(err**2, w)
    over = overshoots(a, moves)
    eff, eff_n = path_efficiency(a, moves)
    zone = _wmean(a.in_zone.astype(float), w)
    return SessionMetrics(
        play_s=float(w.sum()),
        trials=len(counted),
        trials_carried=sum(t.carried for t in counted),
        trials_caught=len(ttc),
        trials_missed=sum(1 for t in fresh if t.complete and t.time_to_catch_s is None),
        time_to_zone_median_s=float(np.median(ttz)) if ttz else None,
        time_to_catch_median_s=float(np.median(ttc)) if ttc else None,
        time_to_catch_mean_s=float(np.mean(ttc)) if ttc else None,
        recatch_median_s=float(np.median(recatch)) if recatch else None,
        recatches=len(recatch),
        hold_s=float(hw.sum()),
        hold_sd=hold_sd,
        hold_bias=hold_mean,
        overshoot_mean=float(np.mean(over)) if over else None,
        overshoot_max=float(np.max(over)) if over else None,
        overshoot_moves=len(over),
        rms_error=math.sqrt(ms) if ms is not None else None,
        mae=_wmean(np.abs(err), w),
        bias=_wmean(err, w),
        path_efficiency=eff,
        path_moves=eff_n,
        tracking_lag_s=tracking_lag(a),
        in_zone_fraction=zone,
        grade_seconds=grade_seconds(a),
    )
