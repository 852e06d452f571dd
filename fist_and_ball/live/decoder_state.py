"""State of the developer decoder view: every sensor's |B| as a bar beside the decoded
gesture and grade, plus one bar per tag when the decoder sends simultaneous grades
(`grades` in `grade`, parsed by the client into `TagGrade`s). Drawing goes through
`scene.decoder_view` (bpy), imported when the view is first drawn, so this module
imports without bpy."""

from __future__ import annotations

from typing import Any

from .client import TAG_GRADES, TagGrade
from .kmg_bars import MAX_SENSORS, KmgNormalizer, ring_positions, sensor_positions

DECODER_BAR_M = 0.04
"""Full bar length of the decoder view (m): short enough not to cover its text."""


def tag_grades_of(grade_msg: dict[str, Any] | None) -> dict[str, TagGrade] | None:
    """The per-tag grades a received `grade` message carries (validated by the client),
    or None."""
    tags = grade_msg.get(TAG_GRADES) if grade_msg is not None else None
    if isinstance(tags, dict) and tags and all(isinstance(t, TagGrade) for t in tags.values()):
        return tags
    return None


class DecoderViewState:
    """Whether the view is on, what it last drew and where its sensors came from."""

    def __init__(self) -> None:
        self.on = False
        """Wanted: kmg subscribed, bars fed every tick."""
        self.kmg = KmgNormalizer()
        self.applied = 0
        """kmg samples drawn (ticks that had a new one)."""
        self.bars: list[float] = []
        """The bar heights last drawn (0..1, NaN = dead sensor)."""
        self.kmg_last: dict[str, Any] | None = None
        """The `kmg` message those bars came from."""
        self.layout = ""
        """Where the sensors came from, for the panel."""
        self.tags: dict[str, TagGrade] = {}
        """The per-tag grades last drawn (empty: the decoder sent none)."""
        self.tags_applied = 0
        """Ticks that drew per-tag grades."""
        self._visible: bool | None = None

    def set_on(self, on: bool) -> None:
        self.on = bool(on)
        if not on:
            self.kmg.reset()
            self.bars, self.kmg_last = [], None
            self.tags = {}

    def display_key(self) -> tuple[Any, ...]:
        """What the panel shows of the tags: redraw only when it changes."""
        return tuple((n, t.grade, round(t.confidence, 1)) for n, t in self.tags.items())

    def ensure(self, refs: Any, hello: dict[str, Any], n: int) -> Any:
        """The view for `n` sensors in the game scene (built or rebuilt if the count
        changed), at the bridge's sensor positions or on a 40 mm ring."""
        from ..scene.decoder_view import build_decoder_view

        dec = refs.decoder
        if dec is None or len(dec.bars) != n:
            positions = sensor_positions(hello, n)
            dec = build_decoder_view(refs, positions, bar_length=DECODER_BAR_M)
            if positions == ring_positions(n):
                self.layout = "Ring of 40 mm (no positions sent)"
            else:
                self.layout = f"Layout: {hello.get('layout') or 'from the bridge'}"
            self._visible = True
        return dec

    def tick(
        self,
        refs: Any,
        kmg: dict[str, Any] | None,
        now: float,
        hello: dict[str, Any],
        gesture: str,
        grade: int,
        tags: dict[str, TagGrade] | None = None,
    ) -> None:
        """Draw the newest magnitudes and per-tag grades (`tags`: from the newest live
        grade, None when it had none); when off, hide the view and delete the tag bars."""
        from ..scene.decoder_view import (
            apply_decoder_view,
            apply_tag_bars,
            remove_tag_bars,
            set_decoder_visible,
        )

        if not self.on:
            if refs.decoder is not None and self._visible is not False:
                set_decoder_visible(refs, False)
                self._visible = False
            if refs.decoder is not None and refs.decoder.tags:
                remove_tag_bars(refs)
            return
        if refs.decoder is not None and self._visible is not True:
            set_decoder_visible(refs, True)
            self._visible = True
        if refs.decoder is not None:
            apply_tag_bars(refs, tags, gesture)
            self.tags = dict(tags) if tags else {}
            if tags:
                self.tags_applied += 1
        mags = kmg.get("magnitudes") if kmg is not None else None
        if kmg is None or not isinstance(mags, list) or not mags:
            return
        mags = mags[:MAX_SENSORS]
        self.ensure(refs, hello, len(mags))
        rx = kmg.get("_rx", now)
        self.bars = self.kmg.update(mags, float(rx) if isinstance(rx, float) else now)
        self.kmg_last = kmg
        apply_decoder_view(refs, self.bars, gesture or "-", grade)
        self.applied += 1
