"""The virtual patient: cue (gesture, level) -> muscle activations of the three movements.

Per movement g (fingers, wrist, thumb), in order:
1. reaction delay: the patient acts on the cue of `reaction_s` ago;
2. target u_g = cued level if g is the cued movement, else 0 (relax);
3. fatigue: sustained contraction builds fatigue F_g (dF/dt = fatigue * a_g - F_g /
   recovery_s, at most `max_fatigue`), which caps the reachable level at 1 - F_g;
4. first-order muscle/tendon dynamics: da_g/dt = (min(u_g, 1 - F_g) - a_g) / tau_s;
5. physiological tremor: a narrow-band 8-12 Hz wobble of amplitude `tremor` x sqrt(a_g)
   (larger when contracting, zero at full rest), clipped to 0..1.
The state (a, F) carries across calls, so the model can run block by block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bridge.sim.cue_script import CueScript
from bridge.sim.tags import MOVEMENTS


@dataclass(frozen=True, slots=True)
class PatientParams:
    """Patient model parameters (see module docstring)."""

    reaction_s: float = 0.2
    tau_s: float = 0.15
    tremor: float = 0.01
    fatigue: float = 0.003
    recovery_s: float = 30.0
    max_fatigue: float = 0.5

    def validate(self) -> None:
        if not 0.0 <= self.reaction_s <= 5.0:
            raise ValueError("reaction_s must be within 0..5 s")
        if not 0.0 <= self.tau_s <= 5.0:
            raise ValueError("tau_s must be within 0..5 s")
        if not 0.0 <= self.tremor <= 0.2:
            raise ValueError("tremor must be within 0..0.2 (fraction of full stroke)")
        if not 0.0 <= self.fatigue <= 1.0:
            raise ValueError("fatigue must be within 0..1 (per second at full contraction)")
        if self.recovery_s <= 0:
            raise ValueError("recovery_s must be > 0")
        if not 0.0 <= self.max_fatigue < 1.0:
            raise ValueError("max_fatigue must be within 0..1")


class _Tremor:
    """Three sinusoids between 8 and 12 Hz with a slowly breathing amplitude, peak ~1."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.omega = 2 * np.pi * rng.uniform(8.0, 12.0, 3)
        self.phase = rng.uniform(0, 2 * np.pi, 3)
        self.mod_omega = 2 * np.pi * rng.uniform(0.1, 0.4)
        self.mod_phase = rng.uniform(0, 2 * np.pi)


class VirtualPatient:
    """Turns a cue script's cue into activations (m, 3) of fingers, wrist and thumb muscles."""

    def __init__(self, params: PatientParams, rng: np.random.Generator) -> None:
        params.validate()
        self.params = params
        tremors = [_Tremor(rng) for _ in MOVEMENTS]
        # all three evaluated in one vectorised expression
        self._omega = np.stack([tr.omega for tr in tremors])  # (3 movements, 3 partials)
        self._phase = np.stack([tr.phase for tr in tremors])
        self._mod_omega = np.array([tr.mod_omega for tr in tremors])
        self._mod_phase = np.array([tr.mod_phase for tr in tremors])
        self.activation = [0.0, 0.0, 0.0]
        """Smooth activation (before tremor) per movement, the dynamic state."""
        self.fatigue = [0.0, 0.0, 0.0]
        self._t_prev: float | None = None

    def _wobble(self, t: np.ndarray) -> np.ndarray:
        """Tremor signals (m, 3), peak ~1, one per movement."""
        carrier = np.sin(t[:, None, None] * self._omega + self._phase).sum(axis=2) / 3.0
        envelope = 0.75 + 0.25 * np.sin(t[:, None] * self._mod_omega + self._mod_phase)
        out: np.ndarray = carrier * envelope
        return out

    def run(self, t: np.ndarray, cue_script: CueScript) -> np.ndarray:
        """Activations (m, 3) in 0..1 at increasing times `t` (m,), continuing the state."""
        t = np.asarray(t, dtype=np.float64)
        p = self.params
        g, level = cue_script.cue(t - p.reaction_s)
        m = t.shape[0]
        target = np.zeros((m, 3))
        active = g > 0
        target[np.nonzero(active)[0], g[active] - 1] = level[active]
        smooth = np.empty((m, 3))
        a = self.activation
        f = self.fatigue
        t_prev = self._t_prev if self._t_prev is not None else float(t[0]) if m else 0.0
        tau = max(p.tau_s, 1e-6)
        last_dt = -1.0
        k_lag = 0.0
        inv_rec = 1.0 / p.recovery_s
        tl = t.tolist()
        tg = target.tolist()
        for k in range(m):
            dt = tl[k] - t_prev
            t_prev = tl[k]
            if dt != last_dt:  # the step is nearly always the frame period: cache exp()
                k_lag = 1.0 - math.exp(-dt / tau) if dt > 0 else 0.0
                last_dt = dt
            row = tg[k]
            for j in range(3):
                cap = 1.0 - f[j]
                u = row[j] if row[j] < cap else cap
                a[j] += k_lag * (u - a[j])
                if p.fatigue:
                    fj = f[j] + dt * (p.fatigue * a[j] - f[j] * inv_rec)
                    f[j] = 0.0 if fj < 0.0 else (p.max_fatigue if fj > p.max_fatigue else fj)
            smooth[k] = a
        self._t_prev = t_prev
        if p.tremor and m:
            wobble = self._wobble(t)
            smooth = smooth + p.tremor * np.sqrt(np.clip(smooth, 0.0, 1.0)) * wobble
        return np.clip(smooth, 0.0, 1.0)
