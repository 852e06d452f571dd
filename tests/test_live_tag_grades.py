"""The optional `grades` object of `grade` (contract 3) as the add-on's client parses it:
good, malformed and hostile values, and through a real websocket into the mailbox (no bpy).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from live_bridge import free_port
from loopback_ws_server import LoopbackServer
from websockets.asyncio.server import ServerConnection

from fist_and_ball.live.client import (
    MAX_TAG_NAME,
    MAX_TAGS,
    BridgeClient,
    TagGrade,
    grade_from_wire,
    tag_grades_from_wire,
)
from fist_and_ball.live.decoder_state import tag_grades_of
from fist_and_ball.live.mailbox import Mailbox


def entry(grade: Any = 3, level: Any = 0.41, confidence: Any = 1.0) -> dict[str, Any]:
    return {"grade": grade, "level": level, "confidence": confidence}


def test_good_object_becomes_tag_grades_with_level_renamed_closure() -> None:
    raw = {
        "fingers": entry(3, 0.41, 1.0),
        "wrist": entry(0, 0.02, 0.9),
        "thumb": entry(8, 1.0, 0.5),
    }
    tags = tag_grades_from_wire(raw)
    assert tags == {
        "fingers": TagGrade(3, 0.41, 1.0),
        "wrist": TagGrade(0, 0.02, 0.9),
        "thumb": TagGrade(8, 1.0, 0.5),
    }
    assert list(tags) == ["fingers", "wrist", "thumb"]  # the bridge's order is kept


def test_grade_message_carries_parsed_grades_and_closure() -> None:
    grades = {"fingers": entry(), "wrist": entry(1, 0.12, 1.0)}
    msg = {"type": "grade", "gesture": "fingers", "grade": 3, "level": 0.41,
           "confidence": 1.0, "grades": grades}  # fmt: skip
    out = grade_from_wire(msg)
    assert out["closure"] == 0.41 and "level" not in out
    assert out["grades"] == {"fingers": TagGrade(3, 0.41, 1.0), "wrist": TagGrade(1, 0.12, 1.0)}
    assert tag_grades_of(out) == out["grades"]


@pytest.mark.parametrize(
    "raw",
    [None, 9, "fingers", [entry()], {}, {"fingers": "3"}, {"fingers": [3, 0.4, 1.0]},
     {"fingers": {}}, {"fingers": {"grade": 3}}],
)  # fmt: skip
def test_malformed_grades_are_dropped_from_the_message(raw: Any) -> None:
    msg = grade_from_wire({"type": "grade", "grade": 2, "level": 0.3, "grades": raw})
    assert "grades" not in msg and msg["grade"] == 2 and msg["closure"] == 0.3
    assert tag_grades_of(msg) is None


def test_numbers_are_clamped_and_grades_rounded() -> None:
    tags = tag_grades_from_wire(
        {
            "fingers": entry(12, 1.7, 3.0),
            "wrist": entry(-4, -0.5, -1.0),
            "thumb": entry(4.6, 0.5, 0.25),
            "rest": entry(10**30, 0.0, 0.0),  # a big but finite integer: clamped
        }
    )
    assert tags == {
        "fingers": TagGrade(8, 1.0, 1.0),
        "wrist": TagGrade(0, 0.0, 0.0),
        "thumb": TagGrade(5, 0.5, 0.25),
        "rest": TagGrade(8, 0.0, 0.0),
    }
    assert all(isinstance(t.grade, int) for t in tags.values())


@pytest.mark.parametrize(
    "bad",
    [
        entry(grade=True),  # bools are not numbers here
        entry(level="0.4"),
        entry(confidence=None),
        entry(grade=math.nan),
        entry(level=math.inf),
        entry(confidence=-math.inf),
        entry(grade=10**400),  # beyond float range
        entry(level=[0.4]),
        {"grade": 3, "level": 0.4},  # no confidence
    ],
)
def test_a_bad_entry_is_left_out_and_the_good_ones_stay(bad: dict[str, Any]) -> None:
    tags = tag_grades_from_wire({"fingers": entry(), "wrist": bad})
    assert tags == {"fingers": TagGrade(3, 0.41, 1.0)}


@pytest.mark.parametrize(
    "name", ["", " fingers", "fingers\n", "a\x00b", "x" * (MAX_TAG_NAME + 1), "\u202e"]
)
def test_unusable_gesture_names_are_left_out(name: str) -> None:
    assert tag_grades_from_wire({name: entry(), "wrist": entry()}) == {
        "wrist": TagGrade(3, 0.41, 1.0)
    }


def test_more_tags_than_any_known_decoder_is_ignored_whole() -> None:
    ok = {f"tag{i}": entry() for i in range(MAX_TAGS)}
    assert tag_grades_from_wire(ok) is not None and len(ok) == MAX_TAGS
    flood = {f"tag{i}": entry() for i in range(MAX_TAGS + 1)}
    assert tag_grades_from_wire(flood) is None


def test_nan_and_infinity_literals_from_python_json_are_refused() -> None:
    # Python's json accepts NaN/Infinity literals, so a hostile peer can send them.
    raw = json.loads('{"fingers": {"grade": NaN, "level": 0.5, "confidence": 1},'
                     ' "wrist": {"grade": 2, "level": Infinity, "confidence": 1},'
                     ' "thumb": {"grade": 2, "level": 0.25, "confidence": 1}}')  # fmt: skip
    assert tag_grades_from_wire(raw) == {"thumb": TagGrade(2, 0.25, 1.0)}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=30), inner, max_size=10)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        json_values,
        st.dictionaries(
            st.text(max_size=30),
            st.fixed_dictionaries(
                {"grade": json_values, "level": json_values, "confidence": json_values}
            ),
            max_size=10,
        ),
    )
)
def test_any_value_parses_to_in_range_tags_or_none(raw: Any) -> None:
    tags = tag_grades_from_wire(raw)
    if tags is None:
        return
    assert 0 < len(tags) <= MAX_TAGS
    for name, t in tags.items():
        assert isinstance(name, str) and 0 < len(name) <= MAX_TAG_NAME
        assert isinstance(t.grade, int) and 0 <= t.grade <= 8
        assert 0.0 <= t.closure <= 1.0 and 0.0 <= t.confidence <= 1.0


# -- through a real websocket --------------------------------------------------------------
class GradesBridge(LoopbackServer):
    """A loopback protocol-v1 server that sends a hello and then the given raw texts."""

    def __init__(self, port: int, texts: list[str]) -> None:
        super().__init__(port)
        self.texts = texts

    async def _handler(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "n_sensors": 16,
                                  "rate_hz": 50.0, "decoder": "track", "grades": 9,
                                  "gestures": ["fingers", "wrist", "thumb"]}))  # fmt: skip
        for text in self.texts:
            await ws.send(text)
        await ws.wait_closed()  # keep the connection open until the client leaves


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


def test_grades_reach_the_mailbox_parsed_and_hostile_ones_do_not_stop_the_stream(
    port: int,
) -> None:
    def grade(seq: int, grades: Any) -> str:
        msg = {"type": "grade", "seq": seq, "t": 0.0, "gesture": "fingers", "grade": 2,
               "level": 0.25, "confidence": 1.0, "grades": grades}  # fmt: skip
        return json.dumps(msg)

    texts = [
        grade(1, {"fingers": entry(2, 0.25, 1.0), "wrist": entry(6, 0.74, 0.9)}),
        grade(2, "not an object"),
        grade(3, {f"t{i}": entry() for i in range(1000)}),
        '{"type":"grade","seq":4,"grade":1,"level":0.1,"confidence":1,"grades":'
        '{"fingers":{"grade":NaN,"level":0.1,"confidence":1},'
        '"thumb":{"grade":7,"level":1e999,"confidence":1}}}',
        grade(5, {"thumb": entry(1e300, 0.5, 2.0)}),
    ]
    mailbox = Mailbox()
    client = BridgeClient(f"ws://127.0.0.1:{port}", mailbox)
    got: list[dict[str, Any]] = []
    with GradesBridge(port, texts):
        client.start()
        try:
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline and len(got) < 5:
                got += mailbox.drain().grades
                time.sleep(0.02)
        finally:
            assert client.stop(5.0)
    assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
    assert got[0]["grades"] == {"fingers": TagGrade(2, 0.25, 1.0), "wrist": TagGrade(6, 0.74, 0.9)}
    assert "grades" not in got[1] and "grades" not in got[2] and "grades" not in got[3]
    assert got[4]["grades"] == {"thumb": TagGrade(8, 0.5, 1.0)}
    assert all("level" not in m and "closure" in m for m in got)
