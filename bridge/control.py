"""What clients may ask of a running bridge: the hello facts, the gesture switch, hand commands.

`BridgeControl` is built in the composition root (`bridge.cli.cmd_bridge`) and given
to the websocket server (its only user) and, for its decoder lock, to the pipeline:
`set_gesture` and the pipeline's `decode` are serialised by that lock because
decoders are not thread-safe. The pipeline itself knows nothing of clients or the
hand; the hand is just one of its outputs.

It also listens to the status (it is an `Output` that ignores samples) for the facts
only known once samples flow: the measured rate and the sensor count.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from bridge.decoders.base import Decoder
from bridge.outputs.base import Output
from bridge.sources.base import Source
from bridge.values.sample import Decoded, Sample
from bridge.values.status import HandStatus, HelloInfo, PipelineStatus

log = logging.getLogger("bridge.control")


class HandCommands(Protocol):
    """The hand output's command side (`bridge.outputs.hand_output.HandOutput`).

    Called from the server's threads while the pipeline feeds the hand: thread-safe.
    """

    def command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]: ...

    def status(self) -> HandStatus | None: ...


def _rounded_positions(positions: Any) -> tuple[tuple[float, ...], ...] | None:
    """Sensor positions for `hello`, rounded to 0.01 mm; None when unknown or malformed."""
    try:
        return tuple(tuple(round(float(v), 2) for v in p) for p in positions) if positions else None
    except (TypeError, ValueError):
        return None


class BridgeControl(Output):
    """The server's view of the bridge; see the module docstring. Thread-safe."""

    name = "control"

    def __init__(
        self, source: Source, decoder: Decoder | None, hand: HandCommands | None = None
    ) -> None:
        self.source = source
        self.decoder = decoder
        self.hand = hand
        self.decoder_lock = threading.Lock()
        """Held around every `decoder.decode` (by the pipeline) and `set_gesture`."""
        self._status: PipelineStatus | None = None
        self._redon: Any = None
        """The running re-don check (bridge.redon.live.LiveRedon), or None."""
        self._redon_owner: Any = None
        self._redon_guard = threading.Lock()

    def on_status(self, status: PipelineStatus) -> None:
        self._status = status

    def on_sample(self, sample: Sample, decoded: Decoded | None) -> None:
        # the hot path: one attribute read unless a re-don check is running
        redon = self._redon
        if redon is not None:
            redon.offer(sample)

    # ---- re-don check (docs/redon.md) ------------------------------------------------
    def redon_start(
        self, owner: Any, authorized: bool, send: Callable[[dict[str, Any]], None]
    ) -> str | None:
        """Start the re-don check for client `owner`; its messages go to `send` (from
        a worker thread). Returns an error detail, or None when started."""
        if not authorized:
            return (
                "this connection is not authorised to start the re-don check "
                "(it changes the decoder)"
            )
        decoder = self.decoder
        if decoder is None:
            return "no decoder is running"
        from bridge.redon.check import routine_movements
        from bridge.redon.live import LiveRedon

        if decoder.name not in ("qg", "track", "mcnn") or not routine_movements(decoder):
            return f"the re-don check does not know decoder '{decoder.name}' (qg, track, mcnn)"
        with self._redon_guard:
            if self._redon is not None:
                return "a re-don check is already running"
            notes = self._hand_off_for_redon()
            redon = LiveRedon(
                decoder,
                self._decoder_spec(),
                self.decoder_lock,
                send,
                on_end=self._redon_ended,
                notes=notes,
            )
            self._redon, self._redon_owner = redon, owner
        redon.start()
        return None

    def redon_cancel(self, owner: Any) -> str | None:
        """Cancel the check `owner` started; an error detail, or None."""
        with self._redon_guard:
            redon = self._redon
            if redon is None:
                return "no re-don check is running"
            if self._redon_owner != owner:
                return "the re-don check was started by another client"
        redon.cancel()
        return None

    def close(self) -> None:
        """The pipeline stops: a running re-don check is cancelled (nothing applied)."""
        redon = self._redon
        if redon is not None:
            redon.cancel()

    def redon_running(self) -> Any:
        """The running check (LiveRedon) or None."""
        return self._redon

    def _redon_ended(self, redon: Any) -> None:
        with self._redon_guard:
            if self._redon is redon:
                self._redon, self._redon_owner = None, None

    def _hand_off_for_redon(self) -> tuple[str, ...]:
        """The patient flexes fully on purpose and the decoder may change: a hand that
        could move is disabled for the check (not re-enabled afterwards)."""
        state = self.hand_state()
        if self.hand is None or state is None or not state.moves_hand:
            return ()
        ok, detail = self.hand_command("disable", True, "re-don check")
        if not ok:
            log.warning("could not disable the hand for the re-don check: %s", detail)
            return (f"the hand could not be switched off for the check: {detail}",)
        return ("the hand was switched off for the check: switch it on again when ready",)

    def _decoder_spec(self) -> str:
        """The running decoder as a command-line spec (for the final message)."""
        decoder = self.decoder
        if decoder is None:
            return ""
        try:
            d = dict(decoder.describe())
        except Exception:
            d = {}
        where = d.get("calibration") or d.get("twin") or d.get("model_dir") or ""
        return f"{decoder.name}:{where}" if where else decoder.name

    def hello_info(self) -> HelloInfo:
        """Facts for the `hello` message."""
        info, decoder, last = self.source.info, self.decoder, self._status
        desc: dict[str, Any] = {}
        if decoder is not None:
            try:
                desc = dict(decoder.describe())
            except Exception:
                log.exception("decoder.describe() failed")
        measured = last.rate_hz if last is not None and last.rate_hz else None
        return HelloInfo(
            source=self.source.url,
            n_sensors=info.n_sensors or (last.n_sensors if last is not None else None),
            rate_hz=info.rate_hz if info.rate_hz else measured,
            decoder=desc.get("decoder", decoder.name if decoder is not None else None),
            gestures=tuple(desc.get("gestures", decoder.gestures if decoder is not None else ())),
            layout=info.layout,
            positions_mm=_rounded_positions(info.positions_mm),
        )

    def set_gesture(self, name: str) -> str | None:
        """Manual gesture switch (QG); returns an error detail, or None when applied."""
        decoder = self.decoder
        if decoder is None:
            return "no decoder is running"
        try:
            with self.decoder_lock:
                decoder.set_gesture(name)
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return None

    def hand_command(self, action: str, authorized: bool, who: str = "client") -> tuple[bool, str]:
        """Forward enable/disable/stop/release to the hand; `who` (the client's address
        and origin) goes into the hand's event log. Errors come back as (False, detail)."""
        hand = self.hand
        if hand is None:
            return False, "no hand attached (start the bridge with --hand URL)"
        if action == "enable" and not authorized:
            # Checked here as well as in the hand output: defence in depth.
            return False, "this connection is not authorised to enable the hand"
        try:
            # Never behind the pipeline's outputs lock: `stop` must not wait for a slow
            # output (a recorder flushing). The hand output is thread-safe itself.
            return hand.command(action, authorized, who)
        except Exception as exc:
            log.exception("hand command %s failed", action)
            return False, f"hand error: {exc}"

    def hand_state(self) -> HandStatus | None:
        """The hand's status, or None when no hand is attached."""
        if self.hand is None:
            return None
        try:
            return self.hand.status()
        except Exception as exc:
            log.exception("reading the hand's status failed")
            return HandStatus.of({"error": str(exc)})
