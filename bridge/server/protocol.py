"""Websocket protocol v1 (contract 3): server message builders and client message checks.

Every builder returns the message already encoded as UTF-8 JSON bytes, because the
server encodes each message once and shares the bytes between all clients.
Extensions beyond the contract are marked below and in docs/bridge.md; clients must
ignore fields and message types they do not know.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bridge
from bridge.values.sample import N_GRADES, Decoded, Sample
from bridge.values.status import HandStatus, LatencyReport, PipelineStatus, ServerStatus
from fist_and_ball.protocol_v1 import (
    HAND_ACTIONS,
    MSG_ERROR,
    MSG_GESTURE,
    MSG_GRADE,
    MSG_HAND,
    MSG_HAND_REPLY,
    MSG_HELLO,
    MSG_KMG,
    MSG_PING,
    MSG_PONG,
    MSG_REDON,
    MSG_STATUS,
    MSG_SUBSCRIBE,
    PROTOCOL_VERSION,
    REDON_ACTIONS,
)

# error codes sent in `error` messages
E_BAD_JSON = "bad_json"
E_BAD_TEXT = "bad_text"  # a string with a lone surrogate (\udfff): not encodable as UTF-8
E_BINARY = "binary_not_supported"
E_BAD_MESSAGE = "bad_message"
E_UNKNOWN_TYPE = "unknown_type"
E_BAD_FIELD = "bad_field"
E_GESTURE = "gesture_rejected"
E_HAND = "hand_refused"
E_INTERNAL = "internal_error"
E_REDON = "redon_refused"  # extension: docs/redon.md

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode(message: dict[str, Any]) -> bytes:
    """Encode one message compactly. NaN/inf are not valid JSON: callers map them to None.

    A lone surrogate that slipped into a string (echoed client content) is written as
    a visible `\\udfff` escape instead of failing: a reply must always be sendable.
    """
    text = _dumps(message)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def hello(
    *,
    source: str,
    n_sensors: int | None,
    rate_hz: float | None,
    decoder: str | None,
    gestures: list[str],
    hand_authorized: bool,
    layout: str | None = None,
    positions_mm: list[list[float]] | None = None,
) -> bytes:
    """`hello`, sent once on connect. `hand_authorized`, `layout` and `positions_mm`
    (sensor positions in mm, where the source knows them) are extensions."""
    return encode(
        {
            "type": MSG_HELLO,
            "protocol": PROTOCOL_VERSION,
            "bridge": bridge.__version__,
            "source": source,
            "n_sensors": n_sensors,
            "rate_hz": None if rate_hz is None else _finite_or_none(round(float(rate_hz), 3)),
            "decoder": decoder,
            "grades": N_GRADES,
            "gestures": list(gestures),
            # extensions
            "hand_authorized": hand_authorized,
            "layout": layout,
            "positions_mm": positions_mm,
        }
    )


_gesture_json: dict[str, str] = {}


def _json_str(s: str) -> str:
    cached = _gesture_json.get(s)
    if cached is None:
        cached = json.dumps(s)
        if len(_gesture_json) < 64:  # gesture names come from a small fixed set
            _gesture_json[s] = cached
    return cached


def grade(decoded: Decoded, sample: Sample) -> bytes:
    """`grade` for one decoded sample; `t` is the bridge clock (time.monotonic seconds).

    Extensions: `sensor` (the sensor index the decoder leaned on, or null); `grades`
    (gesture -> {grade, level, confidence}) only from decoders that see several tags.
    """
    # NaN/inf are not JSON: a non-finite level or confidence is sent as 0
    level = decoded.level if math.isfinite(decoded.level) else 0.0
    confidence = decoded.confidence if math.isfinite(decoded.confidence) else 0.0
    # Hand-built JSON: this runs once per sample on the pipeline thread, and the
    # fields are plain numbers plus a gesture name from a fixed set.
    sensor = "null" if decoded.sensor_index is None else str(int(decoded.sensor_index))
    return (
        f'{{"type":"{MSG_GRADE}","seq":{sample.seq:d},"t":{sample.t_host:.6f},'
        f'"gesture":{_json_str(decoded.gesture)},"grade":{decoded.grade:d},'
        f'"level":{level:.4f},"confidence":{confidence:.4f},"sensor":{sensor}'
        f"{_grades_field(decoded.grades)}}}"
    ).encode()


def _grades_field(grades: Mapping[str, tuple[int, float, float]] | None) -> str:
    """`,"grades":{...}` (contract 3's optional object), or "" when the decoder has none."""
    if not grades:
        return ""
    isfinite = math.isfinite
    parts = []
    for g, (grade, level, conf) in grades.items():
        level = min(max(level, 0.0), 1.0) if isfinite(level) else 0.0
        conf = min(max(conf, 0.0), 1.0) if isfinite(conf) else 0.0
        parts.append(
            f'{_json_str(g)}:{{"grade":{min(max(int(grade), 0), N_GRADES - 1):d},'
            f'"level":{level:.4f},"confidence":{conf:.4f}}}'
        )
    return ',"grades":{' + ",".join(parts) + "}"


def kmg(sample: Sample) -> bytes:
    """`kmg` for one sample: |B| per sensor in uT, dead sensors (NaN) and any other
    non-finite value as null.

    Extension: `saturated` (the frame's saturation flag).
    """
    isfinite = math.isfinite
    mags = ",".join(f"{m:.3f}" if isfinite(m) else "null" for m in sample.magnitudes.tolist())
    sat = "true" if sample.saturated else "false"
    return (
        f'{{"type":"{MSG_KMG}","seq":{sample.seq:d},"t":{sample.t_host:.6f},'
        f'"magnitudes":[{mags}],"saturated":{sat}}}'
    ).encode()


def status_fields(st: PipelineStatus) -> dict[str, Any]:
    """The typed status as the `status` message's fields (docs/bridge.md, "Status
    fields"): the one place it becomes JSON. Server, recorder and lsl fields appear only
    when those outputs run; `hand` is null without a hand."""
    src, dec = st.source, st.decoder
    fields: dict[str, Any] = {
        "t": st.t,
        "uptime_s": st.uptime_s,
        "source": src.url,
        "state": src.state,
        "detail": src.detail,
        "rate_hz": st.rate_hz,
        "samples": st.samples,
        "frames": src.frames,
        "dropped": src.dropped,
        "bad_frames": src.bad_frames,
        "reconnects": src.reconnects,
        "source_status": {
            "state": src.state,
            "detail": src.detail,
            "frames": src.frames,
            "bad_frames": src.bad_frames,
            "dropped": src.dropped,
            "reconnects": src.reconnects,
            "extra": dict(src.extra),
        },
        "decoder": dec.name,
        "decoder_ready": dec.ready,
        "decode_errors": dec.errors,
        "last_decode_error": dec.last_error,
        "output_errors": dict(st.output_errors),
        "hand": hand_fields(st.hand),
    }
    server = st.server
    if server is not None:
        fields.update(_server_fields(server))
    recorder = st.recorder
    if recorder is not None:
        fields["recorder"] = {
            "path": recorder.path,
            "rows": recorder.rows,
            "skipped": recorder.skipped,
            "error": recorder.error,
        }
    lsl = st.lsl
    if lsl is not None:
        fields["lsl"] = {
            "streams": list(lsl.streams),
            "scope": lsl.scope,
            "rate_hz": lsl.rate_hz,
            "consumers": lsl.consumers,
            "pushed": lsl.pushed,
            "skipped": lsl.skipped,
            "clock_offset_s": lsl.clock_offset_s,
            "clock_reanchors": lsl.clock_reanchors,
            "lag_ms": lsl.lag_ms,
            "error": lsl.error,
        }
    return fields


def hand_fields(hand: HandStatus | None) -> dict[str, Any] | None:
    """The hand's JSON record (`status.hand`, the `hand` reply's `state`), or None."""
    return None if hand is None else dict(hand.record)


def _latency_fields(lat: LatencyReport) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    out: dict[str, Any] = {"p50": r(lat.p50), "p99": r(lat.p99), "max": r(lat.max), "n": lat.n}
    if lat.hist:
        out["hist"] = [[upper, count] for upper, count in lat.hist]
    return out


def _server_fields(sv: ServerStatus) -> dict[str, Any]:
    return {
        "clients": sv.clients,
        "clients_kmg": sv.clients_kmg,
        "max_clients": sv.max_clients,
        "clients_refused_full": sv.clients_refused_full,
        "clients_rejected": sv.clients_rejected,
        "clients_dropping": sv.clients_dropping,
        "dropped_kmg_total": sv.dropped_kmg_total,
        "dropped_grade_total": sv.dropped_grade_total,
        "slow_clients": [
            {
                "id": c.id,
                "peer": c.peer,
                "kmg": c.kmg,
                "queued": c.queued,
                "dropped": c.dropped,
                "dropped_kmg": c.dropped_kmg,
                "dropped_grade": c.dropped_grade,
            }
            for c in sv.slow_clients
        ],
        "clients_dropped_slow": sv.clients_dropped_slow,
        "clients_dropped_buffer": sv.clients_dropped_buffer,
        "token_lockouts": sv.token_lockouts,
        "batching": sv.batching,
        "batching_spells": sv.batching_spells,
        "latency_ms": _latency_fields(sv.latency),
        "latency_ms_total": _latency_fields(sv.latency_total),
    }


def status(body: dict[str, Any]) -> bytes:
    """`status` from its fields (`status_fields`, possibly redacted)."""
    return encode({"type": MSG_STATUS, **_clean(body)})


def error(code: str, detail: str, ref: str | None = None) -> bytes:
    """`error` for a client message the server could not take. `ref` (extension) names
    the offending message type when known."""
    msg: dict[str, Any] = {"type": MSG_ERROR, "code": code, "detail": detail}
    if ref is not None:
        msg["ref"] = ref
    return encode(msg)


def pong(ping_id: Any, t: float) -> bytes:
    """`pong` answering `ping`, echoing its `id`; `t` is the bridge clock."""
    return encode({"type": MSG_PONG, "id": ping_id, "t": round(t, 6)})


def hand_reply(action: str, ok: bool, detail: str, state: HandStatus | None) -> bytes:
    """Extension: `hand` acknowledgement of a client's hand command, with the hand's state."""
    return encode(
        {
            "type": MSG_HAND_REPLY,
            "action": action,
            "ok": ok,
            "detail": detail,
            "state": hand_fields(state),
        }
    )


def redon(message: dict[str, Any]) -> bytes:
    """Extension: a re-don check message (running or final; bridge.redon.live builds
    them), sent to the client that started the check only. docs/redon.md."""
    return encode({**_clean(message), "type": MSG_REDON})


def _clean(value: Any) -> Any:
    """Make a status value JSON-safe: non-finite floats -> None, tuples -> lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


# ---- client -> server --------------------------------------------------------------

_CLIENT_TYPES = ", ".join((MSG_SUBSCRIBE, MSG_GESTURE, MSG_HAND, MSG_PING, MSG_REDON))


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A validated client message."""

    type: str
    kmg: bool = False
    name: str = ""
    action: str = ""
    ping_id: Any = None


class ProtocolError(Exception):
    """A client message the server cannot take; becomes an `error` message."""

    def __init__(self, code: str, detail: str, ref: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _has_lone_surrogate(value: Any) -> bool:
    """True when any string (key or value) in a parsed JSON value is not UTF-8 encodable."""
    stack = [value]  # iterative: nesting depth is the client's choice
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def parse_client_message(data: str | bytes) -> ClientMessage:
    """Validate one client frame; raise ProtocolError describing what is wrong."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(E_BINARY, "binary frames are not part of protocol v1; send JSON text")
    try:
        # NaN/Infinity are not JSON: Python's parser takes them, but echoing one back
        # (a ping id) cannot be encoded, so refuse them here like any other bad JSON
        obj = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(E_BAD_JSON, f"not valid JSON: {exc}") from None
    if "\\u" in data and _has_lone_surrogate(obj):
        # JSON escapes like "\\udfff" decode to a lone surrogate, which no reply, log
        # line or decoder can encode: refuse the message, keep the connection.
        raise ProtocolError(E_BAD_TEXT, "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
    if not isinstance(obj, dict):
        raise ProtocolError(E_BAD_MESSAGE, "a message must be a JSON object with a 'type' field")
    mtype = obj.get("type")
    if not isinstance(mtype, str):
        raise ProtocolError(E_BAD_MESSAGE, "missing or non-string 'type' field")
    if mtype == MSG_SUBSCRIBE:
        flag = obj.get("kmg")
        if not isinstance(flag, bool):
            raise ProtocolError(E_BAD_FIELD, "subscribe needs 'kmg': true or false", mtype)
        return ClientMessage(mtype, kmg=flag)
    if mtype == MSG_GESTURE:
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError(E_BAD_FIELD, "gesture needs 'name': a gesture name string", mtype)
        return ClientMessage(mtype, name=name)
    if mtype == MSG_HAND:
        action = obj.get("action")
        if action not in HAND_ACTIONS:
            raise ProtocolError(
                E_BAD_FIELD, f"hand needs 'action': one of {', '.join(HAND_ACTIONS)}", mtype
            )
        return ClientMessage(mtype, action=str(action))
    if mtype == MSG_REDON:
        action = obj.get("action")
        if action not in REDON_ACTIONS:
            raise ProtocolError(
                E_BAD_FIELD, f"redon needs 'action': one of {', '.join(REDON_ACTIONS)}", mtype
            )
        return ClientMessage(mtype, action=str(action))
    if mtype == MSG_PING:
        ping_id = obj.get("id")
        # bool is an int subclass in Python but not a sensible id
        if isinstance(ping_id, bool) or not (
            ping_id is None or isinstance(ping_id, (str, int, float))
        ):
            raise ProtocolError(E_BAD_FIELD, "ping 'id' must be a string or a number", mtype)
        if isinstance(ping_id, float) and not math.isfinite(ping_id):  # e.g. 1e999
            raise ProtocolError(E_BAD_FIELD, "ping 'id' must be a finite number", mtype)
        if isinstance(ping_id, str) and len(ping_id) > 128:
            raise ProtocolError(E_BAD_FIELD, "ping 'id' is longer than 128 characters", mtype)
        return ClientMessage(mtype, ping_id=ping_id)
    shown = mtype if len(mtype) <= 40 else mtype[:40] + "..."
    raise ProtocolError(
        E_UNKNOWN_TYPE,
        f"unknown message type {shown!r}; protocol v1 takes {_CLIENT_TYPES}",
        shown,
    )
