"""Hand drivers and the hand URL syntax.

URLs:
- ``sim`` or ``sim?wrist=1&speed=100``: the simulated hand (speed = motor %/s).
- ``serial:/dev/ttyACM0?protocol=openbionics|openbionics-csv|generic5&baud=115200``,
  plus ``speed=0..255`` (openbionics) and ``wrist=1`` (generic5).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from bridge.outputs.hand_drivers.base import HandDriver, HandLinkError, SerialLineDriver
from bridge.outputs.hand_drivers.generic5 import Generic5Driver
from bridge.outputs.hand_drivers.openbionics import OpenBionicsDriver
from bridge.outputs.hand_drivers.sim_hand import SimHand

PROTOCOLS: tuple[str, ...] = ("openbionics", "openbionics-csv", "generic5")

__all__ = [
    "PROTOCOLS",
    "Generic5Driver",
    "HandDriver",
    "HandLinkError",
    "HandUrlError",
    "OpenBionicsDriver",
    "SerialLineDriver",
    "SimHand",
    "driver_from_url",
]


class HandUrlError(ValueError):
    """A hand URL the bridge cannot use (message is user-facing)."""


def _options(query: str, allowed: set[str], url: str) -> dict[str, str]:
    try:
        raw = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise HandUrlError(f"hand URL {url!r}: malformed options {query!r}") from None
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise HandUrlError(
            f"hand URL {url!r}: unknown option(s) {unknown}; allowed: {sorted(allowed)}"
        )
    return {k: v[-1] for k, v in raw.items()}


def _int(opts: dict[str, str], key: str, default: int, url: str, lo: int, hi: int) -> int:
    if key not in opts:
        return default
    try:
        v = int(opts[key])
    except ValueError:
        raise HandUrlError(f"hand URL {url!r}: {key} must be an integer") from None
    if not lo <= v <= hi:
        raise HandUrlError(f"hand URL {url!r}: {key} must be in {lo}..{hi}, got {v}")
    return v


def _flag(opts: dict[str, str], key: str, url: str) -> bool:
    v = opts.get(key, "0").lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise HandUrlError(f"hand URL {url!r}: {key} must be 0 or 1")


def driver_from_url(url: str) -> HandDriver:
    """Build (not connect) the driver a hand URL names. Raises HandUrlError."""
    if not isinstance(url, str) or not url.strip():
        raise HandUrlError("hand URL is empty; use 'sim' or 'serial:/dev/ttyACM0?protocol=...'")
    url = url.strip()
    head, _, query = url.partition("?")
    if head == "sim":
        opts = _options(query, {"wrist", "speed"}, url)
        speed = _int(opts, "speed", 100, url, 1, 1000)
        return SimHand(has_wrist=_flag(opts, "wrist", url), motor_speed_pct_s=float(speed))
    if head.startswith("serial:"):
        port = head[len("serial:") :]
        if port.startswith("//"):  # tolerate serial:///dev/ttyACM0
            port = port[2:]
        if not port:
            raise HandUrlError(f"hand URL {url!r}: missing port, e.g. serial:/dev/ttyACM0")
        opts = _options(query, {"protocol", "baud", "speed", "wrist"}, url)
        protocol = opts.get("protocol", "generic5")
        baud = _int(opts, "baud", 115200, url, 300, 4_000_000)
        if protocol in ("openbionics", "openbionics-csv"):
            if "wrist" in opts:
                raise HandUrlError(f"hand URL {url!r}: {protocol} hands have no wrist option")
            speed = _int(opts, "speed", 255, url, 0, 255)
            return OpenBionicsDriver(port, baud, csv=protocol == "openbionics-csv", speed=speed)
        if protocol == "generic5":
            if "speed" in opts:
                raise HandUrlError(f"hand URL {url!r}: generic5 has no speed option")
            return Generic5Driver(port, baud, has_wrist=_flag(opts, "wrist", url))
        raise HandUrlError(
            f"hand URL {url!r}: unknown protocol {protocol!r}; use one of {list(PROTOCOLS)}"
        )
    raise HandUrlError(
        f"hand URL {url!r} not understood; use 'sim' or "
        "'serial:/dev/ttyACM0?protocol=openbionics|openbionics-csv|generic5&baud=115200'"
    )
