"""Test helper: a websocket server on 127.0.0.1 on a thread of its own (with its own event
loop), for tests that play the bridge's side of protocol v1 to the add-on's client.
A subclass says what the bridge does in `_handler`; start/stop (or `with`) run it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any, Self

from websockets.asyncio.server import ServerConnection, serve


class LoopbackServer:
    """Serves `_handler` on 127.0.0.1:`port` while started; can be started again after
    `stop` (a bridge coming back on the same port)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handler(self, ws: ServerConnection) -> None:
        """One client connection, from hello to its end."""
        raise NotImplementedError

    async def messages(self, ws: ServerConnection) -> AsyncIterator[dict[str, Any]]:
        """Each message the client sends, parsed and kept in `received`; a ping is
        answered with its pong here (as the bridge does), the others are yielded."""
        async for raw in ws:
            msg = json.loads(raw)
            self.received.append(msg)
            if msg.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong", "id": msg.get("id")}))
            else:
                yield msg

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._handler, "127.0.0.1", self.port):
            self._ready.set()
            await self._stop.wait()

    def start(self) -> Self:
        """Listen; returns once the port accepts connections."""
        self._ready.clear()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "test server did not start"
        return self

    def stop(self) -> None:
        """Close the listener and every connection (as a bridge going away)."""
        if self._thread is None or not self._thread.is_alive():
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._ready.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
