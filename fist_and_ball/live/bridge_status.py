"""Typed values of what the bridge says about itself and its hand. No bpy.

Built once per message at the edge (`hello`, `status.hand`, a `hand` answer) so the
panel and the controller read named fields instead of probing dicts. Frozen: a new
message makes a new value, and equal values mean nothing to redraw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol_v1 import ACTIVE_GESTURES


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    """The bridge's `hello`: where its samples come from and what it offers."""

    source: str = ""
    decoder: str = ""
    gestures: tuple[str, ...] = ACTIVE_GESTURES
    """Gestures offered for the QG switch (the defaults until a hello names its own)."""
    hand_authorized: bool | None = None
    """May this connection enable the hand (None: the bridge did not say)."""

    @classmethod
    def from_hello(cls, hello: Mapping[str, Any]) -> BridgeInfo:
        names = hello.get("gestures")
        auth = hello.get("hand_authorized")
        return cls(
            source=str(hello.get("source", "")),
            decoder=str(hello.get("decoder", "")),
            gestures=(
                tuple(str(n) for n in names)
                if isinstance(names, list) and names
                else ACTIVE_GESTURES
            ),
            hand_authorized=auth if isinstance(auth, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class HandStatus:
    """The physical hand as the bridge last reported it (`status.hand` or the state in
    the answer to a hand command)."""

    present: bool = False
    """False: the bridge runs without --hand."""
    state: str = ""
    """The safety layer's state: disabled | blocked | active | holding | opening | estop."""
    enabled: bool = False
    reason: str = ""
    link: str = ""
    """The hand driver's link: connected | disconnected."""
    driver: str = ""

    @classmethod
    def from_wire(cls, hand: object) -> HandStatus:
        """From the bridge's hand object; anything but an object means no hand."""
        if not isinstance(hand, Mapping):
            return cls(present=False)
        link = hand.get("link")
        driver = hand.get("driver")
        return cls(
            present=True,
            state=str(hand.get("state") or "unknown"),
            enabled=bool(hand.get("enabled")),
            reason=str(hand.get("reason") or ""),
            link=str(link) if link else ("connected" if hand.get("connected") else ""),
            driver=str(driver.get("driver", "")) if isinstance(driver, Mapping) else "",
        )
