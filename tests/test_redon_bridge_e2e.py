"""The re-don check end to end through real processes: `fist-and-ball simulate` (the
virtual patient, band shifted 5 mm, in intent mode) sends KMG frames over UDP to a
`fist-and-ball bridge --source udp://` subprocess running QG; a websocket client starts
the check and, like a patient reading the prompts, tells the simulated patient what to
do (UDP intents). The client gets running messages and the verdict."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

from websockets.asyncio.client import connect

from tests.test_bridge_cli import _Bridge

FAB = str(Path(sys.executable).with_name("fist-and-ball"))


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _calibration(tmp_path: Path) -> Path:
    from bridge.decoders.qg_fit import fit_calibration
    from bridge.sim.calibration_run import record_guided_calibration
    from bridge.sim.config import SimConfig

    path = tmp_path / "cal.json"
    fit_calibration(*record_guided_calibration(SimConfig(layout="myo3"))).save(path)
    return path


def _intent_for(prompt: str) -> dict:
    """What a patient does on reading the prompt."""
    if prompt.startswith(("Close your fist", "Hold it")):
        return {"gesture": "fingers", "level": 1.0}
    return {"gesture": "rest", "level": 0.0}


def test_redon_through_simulate_udp_bridge_and_a_websocket_client(tmp_path: Path) -> None:
    cal = _calibration(tmp_path)
    frames, intents = _free_udp_port(), _free_udp_port()
    sim = subprocess.Popen(
        [
            FAB,
            "simulate",
            "--layout",
            "myo3",
            "--cue-script",
            "intent",
            "--intent-port",
            str(intents),
            "--shift-mm",
            "5",
            "--emit",
            f"udp://127.0.0.1:{frames}",
            "--seconds",
            "120",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    bridge = _Bridge(
        ["--source", f"udp://:{frames}", "--decoder", f"qg:{cal}", "--port", "0", "--quiet"]
    )
    patient = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    async def client() -> tuple[list[dict], dict, int]:
        async with connect(bridge.wait_url(), open_timeout=10) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            # wait until the stream flows (a grade arrives), then start
            while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "grade":
                pass
            await ws.send(json.dumps({"type": "redon", "action": "start"}))
            running: list[dict] = []
            grades = 0
            doing = None
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] == "grade":
                    grades += 1
                elif msg["type"] == "error":
                    raise AssertionError(msg)
                elif msg["type"] == "redon":
                    if msg["state"] != "running":
                        return running, msg, grades
                    running.append(msg)
                    intent = _intent_for(msg["prompt"])
                    if intent != doing:
                        doing = intent
                        patient.sendto(json.dumps(intent).encode(), ("127.0.0.1", intents))

    try:
        running, final, grades = asyncio.run(client())
    finally:
        patient.close()
        code = bridge.stop()
        sim.kill()
        sim.wait()
    assert code == 0, "".join(bridge.lines)
    assert len(running) >= 10  # ~5 per second over a 10 s routine
    assert {m["step"] for m in running} == {"rest", "fingers"}
    assert grades > 0  # the stream kept flowing to the client during the check
    assert final["state"] == "adapted", final
    assert any("applied to the running decoder" in r for r in final["reasons"])
