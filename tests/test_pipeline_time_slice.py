"""The hot threads ask Linux for short time slices (`request_short_time_slice`), read
back from the kernel with sched_getattr: the sample thread, the server loop, nice kept,
real-time threads and `None` left alone."""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from test_server_kit import PushSource

from bridge.pipeline import Pipeline
from bridge.realtime import SHORT_TIME_SLICE_S, request_short_time_slice
from bridge.server.ws_server import ServerConfig, WebSocketServer

_GETATTR = {"x86_64": 315, "aarch64": 275}.get(platform.machine())
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _GETATTR is None, reason="Linux x86_64/aarch64"
)
_ATTR = struct.Struct("IIQiIQQQ")


def _sched_attr(tid: int) -> tuple[int, int, int]:
    """(policy, nice, slice in ns) of a thread, from the kernel."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(_ATTR.size)
    assert libc.syscall(_GETATTR, tid, buf, _ATTR.size, 0) == 0, os.strerror(ctypes.get_errno())
    _, policy, _, nice, _, runtime, _, _ = _ATTR.unpack(buf.raw)
    return policy, nice, runtime


def _in_thread(fn: Callable[[], Any]) -> Any:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(10)
    return out[0]


def _default_slice() -> int:
    return _in_thread(lambda: _sched_attr(threading.get_native_id())[2])


def _slices_supported() -> bool:
    def ask() -> int:
        request_short_time_slice(0.0002)
        return _sched_attr(threading.get_native_id())[2]

    return _in_thread(ask) == 200_000


needs_slices = pytest.mark.skipif(
    not _slices_supported(), reason="kernel before 6.12: time slices not settable"
)


@needs_slices
def test_a_thread_gets_the_slice_it_asks_for_and_keeps_its_nice() -> None:
    def ask() -> tuple[int, int, int]:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + 3)
        nice_before = os.getpriority(os.PRIO_PROCESS, tid)
        assert request_short_time_slice(0.0003) is None
        policy, nice, runtime = _sched_attr(tid)
        return policy, nice - nice_before, runtime

    assert _in_thread(ask) == (os.SCHED_OTHER, 0, 300_000)
    assert _default_slice() != 300_000  # only the thread that asked


def test_none_and_real_time_threads_are_left_alone() -> None:
    default = _default_slice()

    def none() -> int:
        assert request_short_time_slice(None) is None
        return _sched_attr(threading.get_native_id())[2]

    assert _in_thread(none) == default

    def real_time() -> tuple[int, int] | None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except PermissionError:
            return None
        request_short_time_slice(0.0002)
        policy, _, _ = _sched_attr(threading.get_native_id())
        return policy, os.sched_getparam(0).sched_priority

    got = _in_thread(real_time)
    if got is None:
        pytest.skip("no permission for SCHED_FIFO here")
    assert got == (os.SCHED_FIFO, 1)  # still real-time: never demoted


def _thread_named(name: str) -> threading.Thread:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for t in threading.enumerate():
            if t.name == name and t.native_id is not None:
                return t
        time.sleep(0.01)
    raise AssertionError(f"no thread {name}")


@needs_slices
@pytest.mark.parametrize("slice_s", [SHORT_TIME_SLICE_S, None])
def test_the_sample_and_server_threads_ask_for_short_slices(slice_s: float | None) -> None:
    src = PushSource()
    pipeline = Pipeline(src, None, [], time_slice_s=slice_s)
    server = WebSocketServer(ServerConfig(port=0, time_slice_s=slice_s))
    server.start()
    pipeline.start()
    try:
        src.push([1.0, 2.0, 3.0])  # the sample thread has set itself up by then
        deadline = time.monotonic() + 10
        while pipeline.samples < 1:
            assert time.monotonic() < deadline, "no sample"
            time.sleep(0.01)
        tids = {
            "pipeline": _thread_named("bridge-pipeline").native_id,
            "server": _thread_named("bridge-ws-server").native_id,
        }
        slices = {k: _sched_attr(tid)[2] for k, tid in tids.items() if tid is not None}
    finally:
        pipeline.close()
        server.close()
    want = _default_slice() if slice_s is None else round(slice_s * 1e9)
    assert slices == {"pipeline": want, "server": want}
