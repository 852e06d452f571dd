"""Reading a client's socket in small slices, so one client's burst cannot hold the loop.

asyncio's selector transport reads up to 256 KiB per readiness callback and hands it
all to the protocol at once. For a websocket that is up to about 2000 frames parsed,
and for pings as many pongs written, in one callback: 10-50 ms of loop time per
flooding client (measured in `bench/abuse.py`), during which a grade delivery
queued behind it waits. Several flooders readable in the same loop iteration add up;
that was the abuse bench's longest gap, in its first second, when the ten flooders
connect together and each spends its whole receive burst at once.

With reads of a few KiB the same bytes take many short callbacks, one per client per
loop iteration, and the grade delivery (scheduled from the pipeline thread, so it runs
at the start of the next iteration) waits behind one slice per client instead of one
burst per client. The total work is unchanged: the receive budget
(`receive_budget.py`) still bounds it, and it now charges within a slice of the limit.
"""

from __future__ import annotations

import asyncio

DEFAULT_MAX_READ_BYTES = 4096
"""About 30 ping frames (a few hundred microseconds of parsing and pongs); protocol
messages are tens of bytes, and the largest allowed message (64 KiB) still arrives in
16 reads."""


def slice_reads(transport: asyncio.BaseTransport, max_bytes: int) -> bool:
    """Make `transport` read at most `max_bytes` per readiness callback.

    Returns False, changing nothing, when the transport has no such setting: asyncio
    has no public one, and its selector transports keep the size of each `recv` in
    `max_size` (other loop implementations may not).
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be at least 1")
    current = getattr(transport, "max_size", None)
    if not isinstance(current, int) or isinstance(current, bool):
        return False
    transport.max_size = max_bytes  # type: ignore[attr-defined]
    return True
