"""KMG sample sources: serial, TCP, UDP, LSL, replay of a recording, and the simulator.

`open_source(url)` is the one way in. Source classes are imported lazily so that
opening a replay needs no pyserial and the simulator's physics load only for `sim:`.
"""

from __future__ import annotations

from pathlib import Path

from bridge.sources.base import Source
from bridge.sources.url import VALID_FORMS, SourceUrl, parse_source_url

__all__ = [
    "VALID_FORMS",
    "Source",
    "open_source",
    "parse_source_url",
]


def _replay_speed(u: SourceUrl) -> float | None:
    raw = u.options.get("speed", "1")
    if raw.lower() == "max":
        return None
    try:
        speed = float(raw)
    except ValueError:
        raise u.error(f"speed={raw!r} is neither a number nor max") from None
    if not 0 < speed < 1e6:
        raise u.error(f"speed={raw} must be > 0 (or max)")
    return speed


def _open_lsl(u: SourceUrl) -> Source:
    u.check_options(("kind", "scope"))
    name = u.target[2:] if u.target.startswith("//") else u.target
    from bridge.lsl_scope import LslUnavailable, parse_scope
    from bridge.sources.lsl_source import LslSource

    try:
        scope = parse_scope(u.options.get("scope", "machine"))
        return LslSource(u.text, name, u.options.get("kind", "auto"), scope)
    except LslUnavailable as exc:
        raise ValueError(str(exc)) from None  # names the extra to install
    except ValueError as exc:
        raise u.error(str(exc)) from None


def open_source(url: str) -> Source:
    """Make the Source a `--source` URL names; ValueError (one line) when it is malformed.

    Device sources connect lazily, inside `samples()`: a device that is not there
    yet is a status, not an error. A replay file is read here, so a missing or
    malformed recording is a ValueError naming the file and line.
    """
    u = parse_source_url(url)
    if u.scheme == "serial":
        u.check_options(("baud",))
        device = u.target[2:] if u.target.startswith("//") else u.target
        baud = u.int_option("baud", 921600, 50, 20_000_000)
        from bridge.sources.serial_source import SerialSource

        return SerialSource(u.text, device, baud)
    if u.scheme == "tcp":
        u.check_options(())
        host, port = u.host_port(host_required=True)
        from bridge.sources.tcp_source import TcpSource

        return TcpSource(u.text, host, port)
    if u.scheme == "udp":
        u.check_options(("from",))
        host, port = u.host_port(host_required=False)
        sender = u.host_port_option("from")
        from bridge.sources.udp_source import SenderFilter, UdpSource

        pin = SenderFilter(*sender) if sender is not None else None
        return UdpSource(u.text, host, port, pin)
    if u.scheme == "replay":
        u.check_options(("speed",))
        speed = _replay_speed(u)
        path = Path(u.target)
        if path.suffix.lower() not in (".csv", ".xdf"):
            raise u.error(f"replay needs a .csv or .xdf recording, got '{u.target}'")
        if not path.is_file():
            raise u.error(f"no recording at '{u.target}'")
        from bridge.sources.replay_source import ReplaySource

        return ReplaySource(u.text, path, speed)
    if u.scheme == "lsl":
        return _open_lsl(u)
    # sim: the simulator parses its own options
    try:
        from bridge.sources.sim_source import SimSource
    except ModuleNotFoundError as exc:
        if exc.name != "bridge.sources.sim_source":
            raise
        raise u.error("the simulator is not installed in this build") from None
    return SimSource(u.text)
