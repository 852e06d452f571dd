"""Run by tests/test_quiet_threads_bpy.py in a fresh bpy 5.0 process (a crash must not
take pytest with it):

    python tests/quiet_threads_bpy_script.py URL CALLS quiet|bare

It starts the add-on's `BridgeClient` towards URL (a server that streams without a
pause), waits for messages to flow, then calls `bpy.ops.object.select_all` under
`Context.temp_override` CALLS times: inside `quiet([client])` ("quiet") or not ("bare").
It prints one JSON line: the calls made, the messages received before and after, and
the pauses that did not hold. Blender crashing (exit -11) is the failure the quiet way
prevents.
"""

from __future__ import annotations

import json
import os
import sys
import time

import bpy

from fist_and_ball.live.client import BridgeClient
from fist_and_ball.live.mailbox import Mailbox
from fist_and_ball.live.quiet_threads import quiet


def received(mailbox: Mailbox) -> int:
    return len(mailbox.drain().redon)


def main(url: str, calls: int, mode: str) -> None:
    mailbox = Mailbox()
    client = BridgeClient(url, mailbox)
    client.start()
    deadline = time.monotonic() + 20
    before = 0
    while before < 50 and time.monotonic() < deadline:  # the stream flows
        time.sleep(0.05)
        before += received(mailbox)
    scene = bpy.context.scene
    not_still = 0
    for _ in range(calls):
        if mode == "quiet":
            with quiet([client], timeout_s=3.0) as still:
                not_still += not still
                with bpy.context.temp_override(scene=scene, active_object=scene.objects[0]):
                    bpy.ops.object.select_all(action="TOGGLE")
        else:
            with bpy.context.temp_override(scene=scene, active_object=scene.objects[0]):
                bpy.ops.object.select_all(action="TOGGLE")
    time.sleep(0.3)
    after = received(mailbox)
    client.stop()
    print(json.dumps({"calls": calls, "before": before, "after": after, "not_still": not_still}))
    sys.stdout.flush()
    os._exit(0)  # bpy's own exit handlers are not what this checks


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
