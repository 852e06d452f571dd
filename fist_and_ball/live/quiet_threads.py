"""The add-on's own threads stand still while Blender runs an operator under a context
override. No bpy.

What we found: while `bpy.ops.X()` runs inside `Context.temp_override(...)` and another
Python thread is running, Blender crashes (a segfault, in either thread). Reproduced in
Debian's Blender 3.4.1 entering patient mode while the re-don check streamed, and in
bpy 5.0.1 with a bare loop of `temp_override` + `bpy.ops.object.select_all` beside a
thread that parses JSON (tests/test_quiet_threads_bpy.py). Without the override, or with
the other thread idle, it does not crash. Blender's manual says Python threads are not
supported. Our reading of the cause: during the operator Blender looks up the override's
members in a Python dict without holding the GIL, because its check for "this thread
runs Python" sees Python 3.11's process-wide current thread state, which the other
thread holding the GIL makes true.

So every call of an operator under an override runs inside `quiet(...)` over the
network client and the job runner: the network thread parks in a C-level wait (data
waits in the socket's buffer, nothing is lost) and running jobs finish first, new ones
start after. The main thread waits at most `timeout_s` for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger(__name__)

TIMEOUT_S = 3.0
"""The longest the main thread waits for a thread to stand still."""
SETTLE_S = 0.002
"""After a thread says it parked it still runs the bytecodes into its wait; this lets them."""


class Pausable(Protocol):
    """A holder of threads that can make them stand still and let them go on."""

    def pause(self, timeout_s: float) -> bool: ...

    def resume(self) -> None: ...


@contextmanager
def quiet(parties: Iterable[Pausable], timeout_s: float = TIMEOUT_S) -> Iterator[bool]:
    """Every party paused for the block; yields whether all stood still in time (the
    block runs either way: a patient's Esc must still leave patient mode)."""
    paused: list[Pausable] = []
    try:
        still = True
        for party in parties:
            paused.append(party)
            still = party.pause(timeout_s) and still
        if not still:
            log.warning("Fist & Ball: a thread did not stand still in %.1f s", timeout_s)
        time.sleep(SETTLE_S)
        yield still
    finally:
        for party in reversed(paused):
            party.resume()
