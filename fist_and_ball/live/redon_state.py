"""The re-don check as the add-on shows it: a small state machine, no bpy, no clock of
its own (every call gets `now`).

The operator notes what it sent (`sent_start`, `sent_cancel`); the main-thread tick
feeds it what the network thread parsed (`take`: a `RedonProgress`, a `RedonResult`
or a `RedonMessageError`), the bridge's refusals (`refused`), the link's state
(`link`) and the time (`check_stalled`). The panel and patient mode read `phase`,
`step`, `prompt`, `progress`, `remaining_s`, `result` and `problem`.

A check never stays "running" for ever: a lost link, a refusal or a bridge that says
nothing for `stall_after_s` ends it as failed, with the reason.
"""

from __future__ import annotations

import textwrap
from typing import Any

from ..protocol_v1 import (
    MSG_REDON,
    REDON_ACCEPTED,
    REDON_ADAPTED,
    REDON_CANCELLED,
    REDON_FAILED,
    REDON_REFUSED,
    REDON_VERDICTS,
    RedonMessageError,
    RedonPose,
    RedonProgress,
    RedonResult,
    parse_redon,
)
from .mailbox import Drained

IDLE = "idle"
STARTING = "starting"
"""Start sent, no word from the bridge yet."""
RUNNING = "running"
CANCELLING = "cancelling"
"""Cancel sent; the bridge's `cancelled` ends it."""
DONE = "done"
"""A final message arrived (or the check failed here): see `result`."""
BUSY_PHASES = (STARTING, RUNNING, CANCELLING)

STALL_AFTER_S = 30.0
"""A busy check with no message from the bridge for this long has failed."""

RedonUpdate = RedonProgress | RedonResult | RedonMessageError
"""What the network thread hands over for one received `redon` message."""


def redon_from_wire(msg: dict[str, Any]) -> RedonUpdate:
    """A received `redon` message parsed on the network thread; never raises (a
    malformed one becomes its `RedonMessageError`, shown in the panel)."""
    try:
        return parse_redon(msg)
    except RedonMessageError as exc:
        return exc


def start_problem(
    *, connected: bool, authorized: bool | None, session_running: bool, busy: bool
) -> str:
    """Why the re-don check cannot start now ("" when it can). `authorized` is the
    hello's `hand_authorized`: the check changes the decoder, like enabling the hand
    (None: the bridge did not say, it decides)."""
    if not connected:
        return "Needs a connection to the bridge"
    if authorized is False:
        return "Needs the bridge's token (preferences): it changes the decoder"
    if busy:
        return "A re-don check is running"
    if session_running:
        return "Stop the game session first"
    return ""


HEADINGS = {
    REDON_ACCEPTED: "Placement accepted",
    REDON_ADAPTED: "Accepted, decoder adapted",
    REDON_REFUSED: "Placement refused",
    REDON_CANCELLED: "Check cancelled",
    REDON_FAILED: "Check failed",
}
"""The panel's first line for each final state."""


def heading(result: RedonResult) -> str:
    """The verdict as one short line."""
    return HEADINGS.get(result.state, result.state)


def pose_text(pose: RedonPose | None) -> str:
    """The estimated socket pose in words ("" when the bridge did not estimate one)."""
    if pose is None:
        return ""
    return f"Socket {pose.shift_mm:.1f} mm shifted, {pose.turn_deg:.1f}\u00b0 turned"


def wrap(text: str, width: int = 56) -> list[str]:
    """A reason or summary cut into panel lines (Blender labels do not wrap)."""
    return textwrap.wrap(text, width) or [""]


class RedonState:
    """The add-on's view of its one re-don check (the bridge runs it)."""

    def __init__(self, *, stall_after_s: float = STALL_AFTER_S) -> None:
        self.stall_after_s = stall_after_s
        self.phase = IDLE
        self.step = ""
        self.prompt = ""
        self.progress = 0.0
        self.remaining_s: float | None = None
        self.result: RedonResult | None = None
        self.problem = ""
        """The last malformed message from the bridge ("" when none)."""
        self.messages = 0
        """`redon` messages taken (good or malformed)."""
        self._last_heard = 0.0

    # -- what the operators did --------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A check was started and has not ended."""
        return self.phase in BUSY_PHASES

    def sent_start(self, now: float) -> None:
        """The start went out: forget the last check, wait for the bridge."""
        self.phase = STARTING
        self.step = ""
        self.prompt = "Starting the re-don check..."
        self.progress, self.remaining_s = 0.0, None
        self.result = None
        self.problem = ""
        self._last_heard = now

    def sent_cancel(self, now: float) -> None:
        """The cancel went out; the check runs until the bridge confirms it."""
        if self.busy:
            self.phase = CANCELLING
            self.prompt = "Cancelling..."
            self._last_heard = now

    # -- what the bridge said ------------------------------------------------------------
    def take(self, update: RedonUpdate, now: float) -> None:
        """One received `redon` message (parsed, or why it could not be)."""
        self.messages += 1
        self._last_heard = now
        if isinstance(update, RedonMessageError):
            self.problem = f"Malformed message from the bridge: {update}"
        elif isinstance(update, RedonProgress):
            if self.phase != CANCELLING:
                self.phase = RUNNING
                self.prompt = update.prompt
            self.step = update.step
            self.progress = update.progress
            self.remaining_s = update.remaining_s
        else:
            self._end(update)

    def refused(self, detail: str) -> None:
        """The bridge refused our `redon` message (an `error` with ref `redon`)."""
        if self.busy:
            self._fail(f"The bridge refused the check: {detail}")
        else:
            self.problem = f"The bridge refused: {detail}"

    def link(self, connected: bool) -> None:
        """The link's state this tick: a check cannot survive a lost connection."""
        if not connected and self.busy:
            self._fail("The connection to the bridge was lost during the check")

    def check_stalled(self, now: float) -> None:
        """End a busy check the bridge has said nothing about for `stall_after_s`."""
        if self.busy and now - self._last_heard > self.stall_after_s:
            self._fail(f"No word from the bridge for {self.stall_after_s:.0f} s")

    def update(self, drained: Drained, now: float) -> None:
        """One tick: the redon messages, refusals and link state the mailbox collected
        (messages first: a final answer that came before the link dropped counts)."""
        for update in drained.redon:
            self.take(update, now)
        for err in drained.errors:
            if err.get("ref") == MSG_REDON:
                self.refused(str(err.get("detail") or err.get("code") or "refused"))
        self.link(drained.connected)
        self.check_stalled(now)

    # -- reading -------------------------------------------------------------------------
    @property
    def verdict(self) -> str:
        """accepted | adapted | refused once the check judged the placement, else ""."""
        r = self.result
        return r.state if r is not None and r.state in REDON_VERDICTS else ""

    def display_key(self) -> tuple[Any, ...]:
        """What the panel shows (progress in whole percent): redraw when it changes."""
        return (
            self.phase,
            self.step,
            self.prompt,
            round(self.progress * 100),
            None if self.remaining_s is None else round(self.remaining_s),
            self.result,
            self.problem,
        )

    def _end(self, result: RedonResult) -> None:
        self.phase = DONE
        self.result = result
        self.prompt = ""
        if result.state not in (REDON_CANCELLED, REDON_FAILED):
            self.progress = 1.0
        self.remaining_s = None

    def _fail(self, reason: str) -> None:
        self._end(RedonResult(REDON_FAILED, "The re-don check did not finish", (reason,), None, ""))
