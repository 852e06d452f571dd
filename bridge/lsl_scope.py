"""Loading pylsl with liblsl confined to this machine unless the network is asked for.

liblsl reads its configuration once per process, before the first stream is made,
so the scope is chosen here, once: `machine` (the default for the bridge and the
tests) binds outlets to 127.0.0.1, resolves over loopback only and disables IPv6,
so nothing leaves the computer; `network` leaves liblsl's own configuration
(defaults, `lsl_api.cfg`, `$LSLAPICFG`) in charge, for a lab's LabRecorder on
another machine.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from types import ModuleType

LSL_EXTRA_HINT = "LSL and XDF need the lsl extra: pip install 'fist-and-ball[lsl]'"

MACHINE_ONLY_CONFIG = """\
[ports]
IPv6 = disable
[multicast]
ResolveScope = machine
ListenAddress = 127.0.0.1
[log]
level = -2
"""
"""liblsl settings for `machine`: loopback only; log errors, not chatter."""


class LslScope(StrEnum):
    MACHINE = "machine"
    NETWORK = "network"


class LslUnavailable(RuntimeError):
    """pylsl (or the liblsl it bundles) cannot be loaded; the message is one line."""


_lock = threading.Lock()
_applied: LslScope | None = None


def load_pylsl(scope: LslScope = LslScope.MACHINE) -> ModuleType:
    """Import pylsl, configuring liblsl for `scope` on the first call.

    Raises LslUnavailable (pylsl or liblsl missing) or ValueError when a second
    caller in the same process asks for another scope (liblsl cannot change it).
    """
    global _applied
    try:
        import pylsl
    except ImportError:
        raise LslUnavailable(LSL_EXTRA_HINT) from None
    except (OSError, RuntimeError) as exc:  # the wheel's liblsl failed to load
        raise LslUnavailable(f"liblsl cannot be loaded ({exc}); {LSL_EXTRA_HINT}") from None
    with _lock:
        if _applied is None:
            if scope is LslScope.MACHINE:
                pylsl.set_config_content(MACHINE_ONLY_CONFIG)
            _applied = scope
        elif _applied is not scope:
            raise ValueError(
                f"LSL is already set up for scope '{_applied}' in this process; "
                f"cannot switch to '{scope}' (use one --lsl-scope for both)"
            )
    return pylsl


def parse_scope(text: str) -> LslScope:
    """`machine` or `network`; ValueError (one line) otherwise."""
    try:
        return LslScope(text.strip().lower())
    except ValueError:
        raise ValueError(f"LSL scope must be machine or network, got {text!r}") from None
