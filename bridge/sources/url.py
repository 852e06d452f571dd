"""Parsing of `--source` URLs into a scheme, a target and typed options.

Only syntax lives here; `bridge.sources.open_source` maps a parsed URL onto a
Source class. Every error is a one-line ValueError that lists the valid forms, so
the CLI can print it as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

VALID_FORMS = (
    "serial:PORT[?baud=921600]",
    "tcp://HOST:PORT",
    "udp://[HOST]:PORT[?from=HOST[:PORT]]",
    "replay:FILE.csv|FILE.xdf[?speed=1|max]",
    "sim:LAYOUT[?options]",
    "lsl:NAME[?kind=auto|vector|magnitude&scope=machine|network]",
)
SCHEMES = ("serial", "tcp", "udp", "replay", "sim", "lsl")


def _forms() -> str:
    return "valid forms: " + ", ".join(VALID_FORMS)


@dataclass(frozen=True, slots=True)
class SourceUrl:
    """A syntactically valid source URL: `scheme`, `target` (path or host:port), options."""

    text: str
    scheme: str
    target: str
    options: dict[str, str] = field(default_factory=dict)

    def error(self, why: str) -> ValueError:
        """A ValueError about this URL, naming it and the valid forms."""
        return ValueError(f"bad source URL '{self.text}': {why}; {_forms()}")

    def check_options(self, allowed: tuple[str, ...]) -> None:
        """Reject options this scheme does not understand."""
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            known = ", ".join(allowed) if allowed else "none"
            raise self.error(
                f"unknown option {', '.join(repr(u) for u in unknown)} for {self.scheme} "
                f"(options: {known})"
            )

    def int_option(self, name: str, default: int, lo: int, hi: int) -> int:
        """An integer option in [lo, hi], or `default` when absent."""
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.error(f"option {name}={raw!r} is not an integer") from None
        if not lo <= value <= hi:
            raise self.error(f"option {name}={value} is out of range {lo}..{hi}")
        return value

    def host_port(self, *, host_required: bool) -> tuple[str, int]:
        """Split `//HOST:PORT` (IPv6 in brackets); HOST may be empty when not required."""
        parts = urlsplit(f"{self.scheme}:{self.target}")
        try:
            port = parts.port
        except ValueError:
            raise self.error("the port must be a number 0..65535") from None
        host = parts.hostname or ""
        if not self.target.startswith("//") or port is None:
            raise self.error(f"{self.scheme} needs //HOST:PORT")
        if parts.path not in ("", "/"):
            raise self.error(f"unexpected path {parts.path!r} after the port")
        if host_required and not host:
            raise self.error(f"{self.scheme} needs a host (e.g. {self.scheme}://192.168.4.1:8888)")
        if host_required and port == 0:
            raise self.error("port 0 is not a port to connect to")
        return host, port

    def host_port_option(self, name: str) -> tuple[str, int | None] | None:
        """An option `HOST[:PORT]` (IPv6 in brackets), or None when absent."""
        raw = self.options.get(name)
        if raw is None:
            return None
        parts = urlsplit(f"//{raw}")
        try:
            port = parts.port
        except ValueError:
            raise self.error(f"option {name}={raw!r}: the port must be a number 1..65535") from None
        host = parts.hostname or ""
        if not host or parts.path or port == 0:
            raise self.error(f"option {name}={raw!r} must be HOST or HOST:PORT")
        return host, port


def parse_source_url(text: str) -> SourceUrl:
    """Parse one `--source` value; raise ValueError with the valid forms when malformed."""
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise ValueError(f"bad source URL '{text}': missing scheme; {_forms()}")
    if scheme not in SCHEMES:
        raise ValueError(f"bad source URL '{text}': unknown scheme '{scheme}'; {_forms()}")
    target, _, query = rest.partition("?")
    options: dict[str, str] = {}
    probe = SourceUrl(text, scheme, target)
    if query:
        for item in query.split("&"):
            key, eq, value = (unquote(part) for part in item.partition("="))
            if not key:
                raise probe.error(f"cannot parse options {query!r} (use key=value&key=value)")
            if key in options:
                raise probe.error(f"option {key!r} given twice")
            if not eq or not value:
                raise probe.error(f"option {key!r} needs a value ({key}=...)")
            options[key] = value
    if not target:
        raise probe.error(f"{scheme} needs a target")
    return SourceUrl(text, scheme, target, options)
