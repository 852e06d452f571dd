"""Who may connect to the bridge and who may drive the hand (token + Origin policy).

Policy (docs/bridge.md, "Security"):
- The server binds 127.0.0.1 by default. Any other bind address needs a token;
  without one the server refuses to start.
- When a token is configured, every connection must present it, as an
  `Authorization: Bearer <token>` header, an `X-Fist-And-Ball-Token: <token>` header
  or the `?token=` query parameter (HTTP 401 otherwise). A peer address that fails
  `max_failures` times in a row is locked out (HTTP 429) for a time that doubles with
  each further lockout (`TokenThrottle`).
- A request carrying an `Origin` header (i.e. from a web browser) is refused with
  HTTP 403 unless that exact origin (scheme, host and port, compared after parsing)
  was allowed. Native clients (Blender, Python) send no Origin.
- `hand enable` needs an authorised connection: a token is configured and this
  connection presented it, OR the server is bound to loopback, no token is
  configured and the request had no Origin header. A web page therefore can never
  enable the hand unless it holds the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

TOKEN_HEADER = "X-Fist-And-Ball-Token"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AuthConfigError(ValueError):
    """The server's security settings are unsafe or invalid; it must not start."""


def is_loopback_host(host: str) -> bool:
    """True for a bind address that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in canonical form (lower case, default port dropped), or
    None when `origin` is not a plain http(s) origin (a path, user info, bad port ...)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if (
        scheme not in _DEFAULT_PORTS
        or not host
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """The server's access rules; build it with `AuthPolicy.create` to validate."""

    host: str = "127.0.0.1"
    token: str | None = None
    allowed_origins: frozenset[str] = field(default_factory=frozenset)

    @staticmethod
    def create(
        host: str, token: str | None = None, allowed_origins: list[str] | tuple[str, ...] = ()
    ) -> AuthPolicy:
        """Validate the settings; raise AuthConfigError for an unsafe combination."""
        token = token or None
        if token is not None and (len(token) < 8 or any(c.isspace() for c in token)):
            raise AuthConfigError("the token must be at least 8 characters with no spaces")
        if not is_loopback_host(host) and token is None:
            raise AuthConfigError(
                f"refusing to listen on {host or 'all interfaces'} without a token: "
                "anything not on loopback could drive the hand; pass --token"
            )
        origins: set[str] = set()
        for o in allowed_origins:
            if not o.strip():
                continue
            canonical = normalize_origin(o)
            if canonical is None:
                raise AuthConfigError(
                    f"--allow-origin {o!r}: give an exact origin like http://localhost:3000"
                )
            origins.add(canonical)
        return AuthPolicy(host=host, token=token, allowed_origins=frozenset(origins))

    def origin_allowed(self, origin: str) -> bool:
        """Exact scheme://host[:port] match after parsing (no prefix or suffix games)."""
        canonical = normalize_origin(origin)
        return canonical is not None and canonical in self.allowed_origins

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)


@dataclass(frozen=True, slots=True)
class AuthDecision:
    """The outcome for one connection request."""

    accept: bool
    status: int = 101
    reason: str = ""
    authorized: bool = False
    """May this connection enable the hand."""


def token_from_request(
    path: str, authorization: str | None, token_header: str | None = None
) -> str | None:
    """The token a request presents: `Authorization: Bearer T`, then the
    `X-Fist-And-Ball-Token` header, then `?token=T`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if token_header and token_header.strip():
        return token_header.strip()
    query = parse_qs(urlsplit(path).query)
    values = query.get("token")
    return values[0] if values else None


def decide(
    policy: AuthPolicy,
    path: str,
    origin: str | None,
    authorization: str | None,
    token_header: str | None = None,
) -> AuthDecision:
    """Apply the policy to one websocket upgrade request."""
    if origin is not None and not policy.origin_allowed(origin):
        shown = origin if len(origin) <= 80 else origin[:80] + "..."
        return AuthDecision(
            False, 403, f"origin {shown!r} not allowed (start the bridge with --allow-origin)"
        )
    presented = token_from_request(path, authorization, token_header)
    if policy.token is not None:
        if presented is None or not hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), policy.token.encode()
        ):
            return AuthDecision(False, 401, "missing or wrong token")
        return AuthDecision(True, authorized=True)
    # No token configured: only a non-browser client on a loopback-only server may
    # drive the hand.
    return AuthDecision(True, authorized=policy.loopback and origin is None)


class TokenThrottle:
    """Per-peer lockout after repeated wrong tokens, so a token cannot be guessed fast.

    After `max_failures` failures in a row a peer is locked out for `lockout_s`; each
    further failure after a lockout doubles it (up to `max_lockout_s`). A success
    clears the peer's record. At most `max_peers` peers are remembered (oldest first
    out), so a flood of addresses cannot grow memory without bound.
    """

    def __init__(
        self,
        max_failures: int = 5,
        lockout_s: float = 2.0,
        max_lockout_s: float = 300.0,
        max_peers: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.max_lockout_s = max_lockout_s
        self.max_peers = max_peers
        self._clock = clock
        # peer -> (failures in a row, locked until)
        self._peers: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self.refused = 0

    def locked(self, peer: str) -> float:
        """Seconds left in `peer`'s lockout (0 when it may try)."""
        rec = self._peers.get(peer)
        if rec is None:
            return 0.0
        left = rec[1] - self._clock()
        if left > 0:
            self.refused += 1
            return left
        return 0.0

    def failed(self, peer: str) -> None:
        """Record a wrong or missing token from `peer`."""
        n, _ = self._peers.pop(peer, (0, 0.0))
        n += 1
        until = 0.0
        if n >= self.max_failures:
            lock = min(self.lockout_s * 2 ** (n - self.max_failures), self.max_lockout_s)
            until = self._clock() + lock
        self._peers[peer] = (n, until)
        while len(self._peers) > self.max_peers:
            self._peers.popitem(last=False)

    def succeeded(self, peer: str) -> None:
        """A correct token: forget `peer`'s failures."""
        self._peers.pop(peer, None)
