"""Protocol v1's constants module: dependency-free, used by the add-on, and the
add-on's `release` hand command over a real websocket (no bpy)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from live_bridge import ROOT, free_port
from test_live_client import FakeBridge, wait_for

from fist_and_ball import protocol_v1
from fist_and_ball.live.client import BridgeClient
from fist_and_ball.live.mailbox import Mailbox


def test_importing_the_protocol_module_pulls_in_nothing_else() -> None:
    """The bridge may import it: no bpy, no other module of the add-on."""
    code = (
        "import json, sys\n"
        "import fist_and_ball.protocol_v1\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m == 'bpy' or m.startswith(('bpy.', 'fist_and_ball', 'websockets', 'numpy')))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["fist_and_ball", "fist_and_ball.protocol_v1"]


def test_the_add_on_package_import_registers_nothing() -> None:
    """`import fist_and_ball` alone (what Blender does before register()) imports no bpy."""
    code = "import sys, fist_and_ball; print('bpy' in sys.modules, len(sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "False"


def test_constants_agree_with_contract_3() -> None:
    p = protocol_v1
    assert p.PROTOCOL_VERSION == 1 and p.N_GRADES == 9 and p.MAX_GRADE == 8
    assert p.GESTURES == ("rest", "fingers", "wrist", "thumb")
    assert p.GESTURES[1:] == p.ACTIVE_GESTURES
    assert p.HAND_ACTIONS == ("enable", "disable", "stop", "release")
    assert p.FIELD_CLOSURE == "level"  # the wire name stays `level`


def test_hand_command_builds_and_refuses() -> None:
    assert protocol_v1.hand_command("release") == {"type": "hand", "action": "release"}
    with pytest.raises(ValueError, match="one of enable, disable, stop, release"):
        protocol_v1.hand_command("open")


def test_the_add_on_uses_the_one_definition() -> None:
    """Every copy the add-on had now refers to the protocol module's values."""
    from fist_and_ball.core import levels, view
    from fist_and_ball.live import bridge_status, client
    from fist_and_ball.scene import hand_pose

    assert client.PROTOCOL_VERSION is protocol_v1.PROTOCOL_VERSION
    assert levels.MAX_GRADE is protocol_v1.MAX_GRADE and hand_pose.MAX_GRADE is levels.MAX_GRADE
    assert hand_pose.GESTURE_NAMES is protocol_v1.GESTURES
    assert bridge_status.BridgeInfo().gestures is protocol_v1.ACTIVE_GESTURES
    assert view.N_LEDS == protocol_v1.N_GRADES


@pytest.fixture
def bridge_and_client() -> Iterator[tuple[FakeBridge, BridgeClient]]:
    port = free_port()
    server = FakeBridge(port).start()
    client = BridgeClient(f"ws://127.0.0.1:{port}", Mailbox())
    yield server, client
    client.stop()
    server.stop()


def test_release_goes_out_as_a_hand_message(
    bridge_and_client: tuple[FakeBridge, BridgeClient],
) -> None:
    server, client = bridge_and_client
    client.start()
    assert wait_for(lambda: client.stats().connected)
    assert client.send(protocol_v1.hand_command(protocol_v1.HAND_RELEASE))
    assert wait_for(lambda: any(m.get("type") == "hand" for m in server.received))
    hands = [m for m in server.received if m.get("type") == "hand"]
    assert hands == [{"type": "hand", "action": "release"}]
    # The bridge's answer comes back through the mailbox like any hand reply.
    assert wait_for(lambda: bool(client.mailbox.drain().hand_replies))


def test_nothing_in_the_add_on_imports_headless_or_its_own_absolute_name() -> None:
    """headless/ moves out of the add-on; the add-on proper imports relatively."""
    pkg = ROOT / "fist_and_ball"
    offenders = []
    for path in pkg.rglob("*.py"):
        if "headless" in path.relative_to(pkg).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.startswith("fist_and_ball") or "headless" in n for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
