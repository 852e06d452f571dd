"""Who may connect to the bridge and who may drive the hand (token + Origin policy).

Policy (docs/bridge.md, "Security"):
- The server binds 127.0.0.1 by default. Any other bind address needs a token;
  without one the server refuses to start.
- When a token is configured, every connection must present it, either as the
  `?token=` query parameter or an `Authorization: Bearer <token>` header (HTTP 401
  otherwise).
- A request carrying an `Origin` header (i.e. from a web browser) is refused with
  HTTP 403 unless that exact origin was allowed. Native clients (Blender, Python)
  send no Origin.
- `hand enable` needs an authorised connection: a token is configured and this
  connection presented it, OR the server is bound to loopback, no token is
  configured and the request had no Origin header. A web page therefore can never
  enable the hand unless it holds the token.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


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
        origins = frozenset(o.strip().rstrip("/") for o in allowed_origins if o.strip())
        if "*" in origins or "null" in origins:
            raise AuthConfigError("--allow-origin takes exact origins like http://localhost:3000")
        return AuthPolicy(host=host, token=token, allowed_origins=origins)

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


def token_from_request(path: str, authorization: str | None) -> str | None:
    """The token a request presents: `Authorization: Bearer T` wins over `?token=T`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    query = parse_qs(urlsplit(path).query)
    values = query.get("token")
    return values[0] if values else None


def decide(
    policy: AuthPolicy, path: str, origin: str | None, authorization: str | None
) -> AuthDecision:
    """Apply the policy to one websocket upgrade request."""
    if origin is not None and origin.rstrip("/") not in policy.allowed_origins:
        return AuthDecision(
            False, 403, f"origin {origin!r} not allowed (start the bridge with --allow-origin)"
        )
    presented = token_from_request(path, authorization)
    if policy.token is not None:
        if presented is None or not hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), policy.token.encode()
        ):
            return AuthDecision(False, 401, "missing or wrong token")
        return AuthDecision(True, authorized=True)
    # No token configured: only a non-browser client on a loopback-only server may
    # drive the hand.
    return AuthDecision(True, authorized=policy.loopback and origin is None)
