"""The quantized-grade (QG) network of the paper: one |B| channel -> grade 0..8.

The network, written out (k = 1..8):

    h_k = step(w_k * |B| + b_k)        binary step: 1 when >= 0, else 0
    grade = clamp(sum_k o_k * h_k, 0, 8)    integer output weights o_k (all 1)

Hidden unit k is a threshold t_k = -b_k / w_k; the sign of w_k is the direction of
the field when the muscle flexes (+1: |B| rises, -1: |B| falls). With hysteresis each
unit is a Schmitt trigger: it switches on at w*(|B| - t) >= +h and off below -h, so
a signal resting on a threshold does not chatter.

`level` is the continuous position behind the grade: the piecewise-linear map through
(extension anchor, 0), (t_k, (k - 1/2)/8), (flexion anchor, 1), so round(8 * level)
equals the grade without hysteresis, and degrees = 180 * level.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from bridge.values.sample import DEGREES_PER_GRADE, N_GRADES

N_HIDDEN = N_GRADES - 1
"""Eight hidden units = eight thresholds between nine grades."""

_OVERSHOOT_FREE = 0.25
"""Fraction of the calibrated range beyond an anchor with full confidence."""
_OVERSHOOT_ZERO = 0.75
"""Fraction of the calibrated range beyond an anchor where confidence reaches 0."""


SPACINGS: tuple[str, ...] = ("dipole", "linear")


def thresholds_from_anchors(
    extension_ut: float, flexion_ut: float, spacing: str = "linear", exponent: float = 3.0
) -> list[float]:
    """Eight thresholds at levels (k - 1/2)/8 between the anchors.

    `linear`: evenly spaced in |B| (the paper). `dipole`: evenly spaced in level under
    |B| ~ 1/distance**exponent with the tag moving linearly, i.e. |B|**(-1/exponent) is
    linear in level; two anchors fix that curve, and it tracks the bend of the real
    |B|(level) curve where straight lines are off by a third of a grade (docs/qg.md).
    """
    lam = [(k - 0.5) / N_HIDDEN for k in range(1, N_HIDDEN + 1)]
    if spacing == "linear":
        span = flexion_ut - extension_ut
        return [extension_ut + span * x for x in lam]
    if spacing == "dipole":
        if extension_ut <= 0 or flexion_ut <= 0 or exponent <= 0:
            raise ValueError("dipole spacing needs positive anchors and exponent")
        ue, uf = extension_ut ** (-1.0 / exponent), flexion_ut ** (-1.0 / exponent)
        return [(ue + x * (uf - ue)) ** (-exponent) for x in lam]
    raise ValueError(f"spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")


def network_from_thresholds(
    thresholds_ut: list[float], direction: int
) -> tuple[list[float], list[float]]:
    """Hidden weights and biases for `thresholds_ut`: w = direction, b = -direction * t."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction}")
    weights = [float(direction)] * len(thresholds_ut)
    biases = [-float(direction) * float(t) for t in thresholds_ut]
    return weights, biases


def thresholds_from_network(weights: list[float], biases: list[float]) -> list[float]:
    """The |B| at which each hidden unit switches: t_k = -b_k / w_k."""
    return [-b / w for w, b in zip(weights, biases, strict=True)]


@dataclass(slots=True)
class Adaptation:
    """Band-displacement compensation: an input gain g in front of the network.

    A band that slides or turns changes the chosen sensor's distance to the tag, which
    scales its whole |B| curve (rest, flexion and the range together, to within a few
    percent over +-5 mm: docs/qg.md). So the network sees g * |B| instead of |B|:

    - `tare`: over the first `tare_samples` valid samples (hand relaxed when the bridge
      starts) g = rest anchor / mean |B|, i.e. the rest reading is put back where the
      calibration found it.
    - `track`: whenever g * |B| would lie more than `margin_ut` beyond the calibrated
      range, g is pushed just enough to bring it back to that edge. A full flexion or
      extension therefore re-anchors the gain; inside the range g never moves.
    - g stays within [`gain_min`, `gain_max`], so a passing magnet cannot run it away.
    """

    tare: bool = True
    tare_samples: int = 10
    track: bool = True
    margin_ut: float = 0.0
    gain_min: float = 0.5
    gain_max: float = 2.0

    def validate(self, gesture: str) -> None:
        if self.tare_samples < 1:
            raise ValueError(f"{gesture}: adaptation.tare_samples must be >= 1")
        if not (0 < self.gain_min <= 1.0 <= self.gain_max) or not math.isfinite(self.gain_max):
            raise ValueError(f"{gesture}: adaptation needs 0 < gain_min <= 1 <= gain_max")
        if self.margin_ut < 0 or not math.isfinite(self.margin_ut):
            raise ValueError(f"{gesture}: adaptation.margin_ut must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "tare": self.tare,
            "tare_samples": self.tare_samples,
            "track": self.track,
            "margin_ut": self.margin_ut,
            "gain_min": self.gain_min,
            "gain_max": self.gain_max,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Adaptation:
        a = Adaptation()
        return Adaptation(
            tare=bool(d.get("tare", a.tare)),
            tare_samples=int(d.get("tare_samples", a.tare_samples)),
            track=bool(d.get("track", a.track)),
            margin_ut=float(d.get("margin_ut", a.margin_ut)),
            gain_min=float(d.get("gain_min", a.gain_min)),
            gain_max=float(d.get("gain_max", a.gain_max)),
        )

    @staticmethod
    def off() -> Adaptation:
        return Adaptation(tare=False, track=False)


@dataclass(slots=True)
class QGParams:
    """One calibrated QG: the sensor it reads, its anchors and its network weights.

    `reference_index`: None reads the sensor's own |B| (the paper); a sensor index reads
    |B_sensor - B_reference| instead, free of uniform fields (bridge/decoders/qg_input.py).
    The network (`hidden_weights`, `hidden_biases`, `output_weights`) is what decodes;
    anchors set `level` and the out-of-range confidence; `noise_ut_rms` scales the
    confidence; `hysteresis_ut` is the Schmitt half-width of every hidden unit.
    """

    gesture: str
    sensor_index: int
    direction: int
    extension_ut: float
    flexion_ut: float
    hidden_weights: list[float]
    hidden_biases: list[float]
    output_weights: list[int] = field(default_factory=lambda: [1] * N_HIDDEN)
    noise_ut_rms: float = 0.3
    hysteresis_ut: float = 0.0
    rest_ut: float | None = None
    adaptation: Adaptation = field(default_factory=Adaptation.off)
    reference_index: int | None = None

    @staticmethod
    def from_anchors(
        gesture: str,
        sensor_index: int,
        extension_ut: float,
        flexion_ut: float,
        noise_ut_rms: float,
        hysteresis_ut: float = 0.0,
        thresholds_ut: list[float] | None = None,
        rest_ut: float | None = None,
        adaptation: Adaptation | None = None,
        spacing: str = "linear",
        reference_index: int | None = None,
    ) -> QGParams:
        """Build the network from two anchors (thresholds per `spacing` unless given)."""
        direction = 1 if flexion_ut >= extension_ut else -1
        t = (
            thresholds_ut
            if thresholds_ut is not None
            else thresholds_from_anchors(extension_ut, flexion_ut, spacing)
        )
        w, b = network_from_thresholds(list(t), direction)
        p = QGParams(
            gesture=gesture,
            sensor_index=sensor_index,
            direction=direction,
            extension_ut=float(extension_ut),
            flexion_ut=float(flexion_ut),
            hidden_weights=w,
            hidden_biases=b,
            noise_ut_rms=float(noise_ut_rms),
            hysteresis_ut=float(hysteresis_ut),
            rest_ut=None if rest_ut is None else float(rest_ut),
            adaptation=adaptation or Adaptation.off(),
            reference_index=reference_index,
        )
        p.validate()
        return p

    @property
    def thresholds_ut(self) -> list[float]:
        return thresholds_from_network(self.hidden_weights, self.hidden_biases)

    @property
    def range_ut(self) -> float:
        return abs(self.flexion_ut - self.extension_ut)

    @property
    def grade_step_ut(self) -> float:
        """Mean |B| width of one grade."""
        return self.range_ut / N_HIDDEN

    def validate(self) -> None:
        """Raise ValueError when the network cannot be a monotonic 9-grade quantizer."""
        g = self.gesture
        if self.direction not in (1, -1):
            raise ValueError(f"{g}: direction must be +1 or -1, got {self.direction}")
        n = len(self.hidden_weights)
        if n != N_HIDDEN or len(self.hidden_biases) != n or len(self.output_weights) != n:
            raise ValueError(
                f"{g}: need {N_HIDDEN} hidden weights, biases and output weights, got "
                f"{n}, {len(self.hidden_biases)}, {len(self.output_weights)}"
            )
        vals = [*self.hidden_weights, *self.hidden_biases, self.extension_ut, self.flexion_ut]
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{g}: weights, biases and anchors must be finite numbers")
        for w in self.hidden_weights:
            if w == 0 or (w > 0) != (self.direction > 0):
                raise ValueError(
                    f"{g}: every hidden weight must be non-zero with the sign of direction "
                    f"({self.direction:+d}); got {w}"
                )
        for o in self.output_weights:
            if not isinstance(o, int) or isinstance(o, bool) or o < 0:
                raise ValueError(f"{g}: output weights must be non-negative integers, got {o!r}")
        t = self.thresholds_ut
        # Units must switch in order as the hand closes, or the grade would jump around.
        along = [self.direction * x for x in t]
        if any(b <= a for a, b in itertools.pairwise(along)):
            raise ValueError(
                f"{g}: thresholds must be strictly ordered from extension to flexion "
                f"(direction {self.direction:+d}); got {[round(x, 3) for x in t]}"
            )
        if self.flexion_ut == self.extension_ut:
            raise ValueError(f"{g}: extension and flexion anchors are equal")
        if (self.flexion_ut > self.extension_ut) != (self.direction > 0):
            raise ValueError(f"{g}: anchors disagree with direction {self.direction:+d}")
        if self.noise_ut_rms <= 0 or not math.isfinite(self.noise_ut_rms):
            raise ValueError(f"{g}: noise_ut_rms must be positive")
        if self.hysteresis_ut < 0 or not math.isfinite(self.hysteresis_ut):
            raise ValueError(f"{g}: hysteresis_ut must be >= 0")
        if self.sensor_index < 0:
            raise ValueError(f"{g}: sensor_index must be >= 0")
        r = self.reference_index
        if r is not None and (r < 0 or r == self.sensor_index):
            raise ValueError(
                f"{g}: reference_index must be another sensor than sensor_index, got {r}"
            )
        if self.rest_ut is not None and not math.isfinite(self.rest_ut):
            raise ValueError(f"{g}: the rest anchor must be a finite number or null")
        self.adaptation.validate(g)

    def to_dict(self) -> dict[str, Any]:
        r = self.reference_index
        reference = {} if r is None else {"reference_index": r}
        return {
            "sensor_index": self.sensor_index,
            **reference,
            "direction": self.direction,
            "anchors_ut": {
                "extension": self.extension_ut,
                "rest": self.rest_ut,
                "flexion": self.flexion_ut,
            },
            "thresholds_ut": [round(x, 6) for x in self.thresholds_ut],
            "hidden_weights": list(self.hidden_weights),
            "hidden_biases": list(self.hidden_biases),
            "output_weights": list(self.output_weights),
            "noise_ut_rms": self.noise_ut_rms,
            "hysteresis_ut": self.hysteresis_ut,
            "adaptation": self.adaptation.to_dict(),
        }


class QG:
    """A running QG: holds the hidden units' states (hysteresis), the input gain and
    the last output.

    `step(b)` is the per-sample hot path: plain Python over eight units (a numpy call
    costs more than the whole loop at this size).
    """

    __slots__ = (
        "_adapt",
        "_b",
        "_conf_scale",
        "_dir",
        "_fresh",
        "_gain",
        "_gmax",
        "_gmin",
        "_h",
        "_hi",
        "_knots_level",
        "_knots_x",
        "_last",
        "_lo",
        "_o",
        "_rest",
        "_span",
        "_state",
        "_tare_left",
        "_tare_n",
        "_tare_sum",
        "_track",
        "_units",
        "_w",
        "params",
    )

    def __init__(self, params: QGParams) -> None:
        params.validate()
        self.params = params
        self._w = [float(w) for w in params.hidden_weights]
        self._b = [float(b) for b in params.hidden_biases]
        self._o = list(params.output_weights)
        # Hysteresis in activation units: unit k's pre-activation is w_k * (|B| - t_k).
        self._h = [abs(w) * params.hysteresis_ut for w in self._w]
        self._units = list(zip(self._w, self._b, self._h, self._o, strict=True))
        self._dir = float(params.direction)
        d = params.direction
        t = params.thresholds_ut
        # Level map in "along the flexion direction" coordinates (increasing).
        self._knots_x = [d * params.extension_ut, *(d * x for x in t), d * params.flexion_ut]
        self._knots_level = [0.0, *((k - 0.5) / N_HIDDEN for k in range(1, N_HIDDEN + 1)), 1.0]
        self._span = params.range_ut
        # erf(d / (sqrt(2) sigma)): P(noise leaves the sample on the same side) mapped to 0..1.
        self._conf_scale = 1.0 / (math.sqrt(2.0) * params.noise_ut_rms)
        a = params.adaptation
        self._track = a.track
        self._adapt = a.track or a.tare
        lo_anchor = min(params.extension_ut, params.flexion_ut)
        hi_anchor = max(params.extension_ut, params.flexion_ut)
        self._lo = lo_anchor - a.margin_ut
        self._hi = hi_anchor + a.margin_ut
        self._gmin, self._gmax = a.gain_min, a.gain_max
        self._rest = params.rest_ut if params.rest_ut is not None else params.extension_ut
        self.reset()

    def reset(self) -> None:
        """Forget the unit states, the gain and the held output (tare again)."""
        self._state = [False] * N_HIDDEN
        self._last: tuple[int, float, float] = (0, 0.0, 0.0)
        self._fresh = True
        self._gain = 1.0
        self._tare_left = self.params.adaptation.tare_samples if self.params.adaptation.tare else 0
        self._tare_sum = 0.0
        self._tare_n = 0

    @property
    def last(self) -> tuple[int, float, float]:
        """The last (grade, level, confidence)."""
        return self._last

    @property
    def gain(self) -> float:
        """The current input gain (1.0 = the band sits where it was calibrated)."""
        return self._gain

    def grade_of(self, b_ut: float) -> int:
        """Stateless grade of one network input value (no hysteresis, no gain)."""
        g = 0
        for w, b, o in zip(self._w, self._b, self._o, strict=True):
            if w * b_ut + b >= 0.0:
                g += o
        return min(max(g, 0), N_HIDDEN)

    def _adapt_gain(self, b_ut: float) -> float:
        """Update the input gain with one valid |B| and return the network input."""
        gain = self._gain
        if self._tare_left > 0:
            self._tare_left -= 1
            self._tare_sum += b_ut
            self._tare_n += 1
            gain = self._rest * self._tare_n / self._tare_sum
        x = b_ut * gain
        if self._track:
            if x > self._hi:
                gain = self._hi / b_ut
            elif x < self._lo:
                gain = self._lo / b_ut
        if gain < self._gmin:
            gain = self._gmin
        elif gain > self._gmax:
            gain = self._gmax
        self._gain = gain
        return b_ut * gain

    def step(self, b_ut: float) -> tuple[int, float, float]:
        """Decode one |B| in uT -> (grade, level, confidence); NaN holds the last grade."""
        if b_ut != b_ut:  # NaN: dead sensor; hold the grade, say we do not know
            g, lv, _ = self._last
            self._last = (g, lv, 0.0)
            return self._last
        if self._adapt and b_ut > 0.0:
            x = b_ut * self._gain
            # Fast path: settled gain and the input inside the calibrated range.
            if self._tare_left or x > self._hi or x < self._lo:
                x = self._adapt_gain(b_ut)
            b_ut = x
        state = self._state
        if self._fresh:
            # No history yet: plain thresholds, so the first grade is not biased by h.
            for k, (w, b, _h, _o) in enumerate(self._units):
                state[k] = w * b_ut + b >= 0.0
            self._fresh = False
        g = 0
        for k, (w, b, h, o) in enumerate(self._units):
            a = w * b_ut + b
            on = a >= -h if state[k] else a >= h
            state[k] = on
            if on:
                g += o
        if g < 0:
            g = 0
        elif g > N_HIDDEN:
            g = N_HIDDEN
        # Level: piecewise-linear through the knots (anchor, 8 thresholds, anchor).
        x = self._dir * b_ut
        kx, kl = self._knots_x, self._knots_level
        if x <= kx[0]:
            raw = (x - kx[0]) / self._span
            level = 0.0
            dist = kx[1] - x
        elif x >= kx[-1]:
            raw = 1.0 + (x - kx[-1]) / self._span
            level = 1.0
            dist = x - kx[N_HIDDEN]
        else:
            i = 1
            while x > kx[i]:
                i += 1
            x0, x1 = kx[i - 1], kx[i]
            level = kl[i - 1] + (kl[i] - kl[i - 1]) * (x - x0) / (x1 - x0)
            raw = level
            # The nearest threshold is an end of this interval (knots 1..8 are thresholds).
            d0 = x - x0 if i > 1 else math.inf
            d1 = x1 - x if i <= N_HIDDEN else math.inf
            dist = d0 if d0 < d1 else d1
        # Confidence: distance to the nearest threshold relative to the noise.
        conf = math.erf(dist * self._conf_scale)
        over = -raw if raw < 0.0 else raw - 1.0
        if over > _OVERSHOOT_FREE:
            conf *= max(0.0, 1.0 - (over - _OVERSHOOT_FREE) / (_OVERSHOOT_ZERO - _OVERSHOOT_FREE))
        self._last = (g, level, conf)
        return self._last


def grade_to_degrees(grade: int) -> float:
    """Hand angle of a grade: 0 -> 0 degrees (open), 8 -> 180 degrees (closed)."""
    return grade * DEGREES_PER_GRADE


def level_to_degrees(level: float) -> float:
    """Hand angle of a continuous level 0..1."""
    return 180.0 * min(max(level, 0.0), 1.0)
