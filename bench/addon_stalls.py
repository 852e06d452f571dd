# mypy: disable-error-code="attr-defined,union-attr,func-returns-value"
# (bpy.ops.fistball exists only at run time; fake-bpy-module stubs are Optional-heavy)
"""Longest block of Blender's main thread in the add-on's slow moments (real bpy 5.0).

Run: .venv/bin/python bench/addon_stalls.py [--sessions-dir DIR] [--write-docs]

Timers never fire with bpy as a module, so this plays Blender's event loop: it calls the
operator, then the add-on's timers (`tick`, `deliver_jobs`) every 10 ms until the work
is handed back, and records how long each of those main-thread calls took. The longest
one is the longest time Blender's UI would have been frozen. Scenarios:

- Open Report on 90+ sessions (bench/make_example_logs.py writes them);
- Disconnect, and disabling the add-on, while connected to a TCP listener that accepts
  and never answers the websocket handshake (real sockets);
- the end of a session (Stop) with 90+ sessions in the log folder (history re-read).

For comparison it also times the same work done synchronously (what the add-on did
before): build_report and the history read on the calling thread.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from machine import cpu_model  # noqa: E402

TARGET_MS = 50.0
SECTION = "## Add-on main-thread stalls (`bench/addon_stalls.py`)"
WEEKS = 23
"""bench/make_example_logs.py writes 4 sessions a week: 23 weeks = 92 sessions."""


class SilentListener:
    """Accepts TCP connections and never answers (a bridge stuck before its hello)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                self.accepted.append(self.sock.accept()[0])
        except OSError:
            pass

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class MainThread:
    """Times every call made on the (simulated) Blender main thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def call(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.calls.append((name, (time.perf_counter() - t0) * 1000.0))

    def run_timers(self, until: Callable[[], bool], timeout_s: float = 120.0) -> None:
        """Fire the add-on's timers every 10 ms until `until()` (like Blender's loop)."""
        from fist_and_ball.live import timer

        deadline = time.monotonic() + timeout_s
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError("the work was not handed back in time")
            self.call("tick", timer.tick)
            self.call("deliver_jobs", timer.deliver_jobs)
            time.sleep(0.01)

    def longest(self) -> tuple[str, float]:
        return max(self.calls, key=lambda c: c[1])


def make_sessions(folder: Path) -> int:
    from make_example_logs import make_logs

    if not any(folder.glob("*.json")):
        make_logs(folder, WEEKS, datetime(2025, 3, 3), verbose=False)
    return len([p for p in folder.glob("*-*min.json")])


def enable_addon(log_folder: Path) -> Any:
    import addon_utils
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    if addon_utils.enable("fist_and_ball", default_set=True, handle_error=None) is None:
        raise RuntimeError("the add-on did not enable")
    prefs = bpy.context.preferences.addons["fist_and_ball"].preferences
    prefs.log_folder = str(log_folder)
    return prefs


def bench_report(logs: Path) -> dict[str, Any]:
    import bpy

    from fist_and_ball.live import timer
    from fist_and_ball.report import build_report, recent_sessions
    from fist_and_ball.ui import operators

    enable_addon(logs)
    operators.open_url = lambda url: None  # no browser in a bench
    main = MainThread()
    main.call("open_report", bpy.ops.fistball.open_report)
    rt = timer.get_runtime()
    main.run_timers(lambda: bool(rt.last_report) and not rt.jobs.pending)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_report(logs, Path(tmp) / "r.html")
        recent_sessions(logs, n=10)
        sync_ms = (time.perf_counter() - t0) * 1000.0
    return {"longest": main.longest(), "sync_ms": sync_ms, "calls": len(main.calls)}


def bench_disconnect(logs: Path) -> dict[str, Any]:
    import addon_utils
    import bpy

    from fist_and_ball.live import timer

    out: dict[str, Any] = {}
    for how in ("disconnect", "disable"):
        enable_addon(logs)
        silent = SilentListener()
        try:
            bpy.ops.fistball.connect(url=f"ws://127.0.0.1:{silent.port}")
            deadline = time.monotonic() + 10
            while not silent.accepted and time.monotonic() < deadline:
                time.sleep(0.01)
            if not silent.accepted:
                raise RuntimeError("the client never reached the listener")
            client = timer.get_runtime().client
            main = MainThread()
            if how == "disconnect":
                main.call("disconnect", bpy.ops.fistball.disconnect)
            else:
                main.call("disable", lambda: addon_utils.disable("fist_and_ball"))
            t0 = time.perf_counter()
            client.join(10.0)
            out[how] = {"longest": main.longest(), "thread_ended_ms": _ms_since(t0)}
        finally:
            silent.close()
            if how == "disconnect":
                addon_utils.disable("fist_and_ball")
    return out


def bench_session_end(logs: Path) -> dict[str, Any]:
    import bpy

    from fist_and_ball.live import timer
    from fist_and_ball.live.history_cache import read_history

    enable_addon(logs)
    rt = timer.get_runtime()
    rt.history.refresh(logs)  # the History panel was open: the cache has a folder
    version = rt.history.version
    rt.controller.start(
        time.monotonic(), level="easy", minutes=2, log_folder=logs, require_signal=False
    )
    timer.tick()
    main = MainThread()
    main.call("stop", bpy.ops.fistball.stop)
    main.run_timers(lambda: rt.history.version > version and not rt.jobs.pending)
    t0 = time.perf_counter()
    read_history(logs)
    sync_ms = _ms_since(t0)
    import addon_utils

    addon_utils.disable("fist_and_ball")
    return {"longest": main.longest(), "sync_ms": sync_ms}


def _ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def markdown(n: int, rep: dict[str, Any], disc: dict[str, Any], end: dict[str, Any]) -> str:
    def row(what: str, longest: tuple[str, float], before: str) -> str:
        ok = "yes" if longest[1] < TARGET_MS else "**no**"
        return f"| {what} | {longest[1]:.1f} ms (`{longest[0]}`) | {before} | {ok} |"

    import bpy

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Run {when} on {cpu_model()}, bpy {bpy.app.version_string}, shared machine. "
        "Longest single call on the main thread (operator, `tick`, `deliver_jobs`) from "
        "the button press until the result is handed back; target under "
        f'{TARGET_MS:.0f} ms. "Done synchronously" is the same work on the calling '
        "thread, as the add-on did before.",
        "",
        "| moment | longest main-thread block | done synchronously | < 50 ms |",
        "|---|---|---|---|",
        row(f"Open Report, {n} sessions", rep["longest"], f"{rep['sync_ms']:.0f} ms"),
        row(
            "Disconnect, bridge never answers the handshake",
            disc["disconnect"]["longest"],
            "up to 2000 ms (join)",
        ),
        row(
            "Disable the add-on, same bridge",
            disc["disable"]["longest"],
            "up to 2000 ms (join)",
        ),
        row(f"End of a session, {n} sessions", end["longest"], f"{end['sync_ms']:.0f} ms"),
        "",
        "After the cancel the network thread ends by itself in "
        f"{disc['disconnect']['thread_ended_ms']:.0f} ms (disconnect) and "
        f"{disc['disable']['thread_ended_ms']:.0f} ms (disable), off the main thread.",
        "",
    ]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    """Replace this bench's section of docs/benchmarks.md (or append it)."""
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text(encoding="utf-8")
    if SECTION in doc:
        start = doc.index(SECTION)
        nxt = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + ("" if nxt < 0 else doc[nxt + 1 :])
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions-dir", type=Path, help="folder of score logs (made if empty)")
    ap.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        logs = args.sessions_dir or Path(tmp) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        n = make_sessions(logs)
        rep = bench_report(logs)
        disc = bench_disconnect(logs)
        end = bench_session_end(logs)
    text = markdown(n, rep, disc, end)
    print(text)
    if args.write_docs:
        write_docs(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
