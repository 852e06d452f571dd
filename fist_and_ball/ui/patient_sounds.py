"""Short generated tones for catch, drop and the session's end (Blender's `aud`).

`aud` is optional: Debian's Blender 3.4 builds it against numpy, so without numpy
`import aud` fails; then sounds are simply off and `reason` says why. No bpy needed.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

RATE = 48000
TONES: dict[str, tuple[tuple[float, float], ...]] = {
    "catch": ((880.0, 0.12),),
    "drop": ((330.0, 0.12), (220.0, 0.2)),
    "end": ((523.0, 0.15), (659.0, 0.15), (784.0, 0.3)),
}
"""Each cue as (frequency Hz, seconds) notes played one after another."""
VOLUME = 0.25


class Sounds:
    """The cues, made once; `play()` never raises."""

    def __init__(self) -> None:
        self.reason = ""
        self._device: Any = None
        self._cues: dict[str, Any] = {}
        try:
            import aud

            self._device = aud.Device()
            for name, notes in TONES.items():
                sound = None
                for freq, seconds in notes:
                    note = (
                        aud.Sound.sine(freq, RATE).limit(0.0, seconds).fadeout(seconds - 0.03, 0.03)
                    )
                    sound = note if sound is None else sound.join(note)
                if sound is not None:
                    self._cues[name] = sound.volume(VOLUME)
        except Exception as exc:  # no aud, no numpy for aud, no audio device
            self._device = None
            self.reason = f"Sounds off: {type(exc).__name__}: {exc}"[:120]
            log.info("Fist & Ball: %s", self.reason)

    @property
    def available(self) -> bool:
        return self._device is not None

    def play(self, name: str) -> bool:
        """Play cue `name`; False when sounds are unavailable or it failed."""
        cue = self._cues.get(name)
        if self._device is None or cue is None:
            return False
        try:
            self._device.play(cue)
            return True
        except Exception as exc:  # a lost audio device must not stop the game
            log.info("Fist & Ball: sound %s failed: %s", name, exc)
            return False
