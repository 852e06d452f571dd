"""Composition package: what joins the bridge and the add-on.

The `fist-and-ball` command's entry point, the commands that need both sides (play, demo,
report) and headless play live here, so `bridge/` and `fist_and_ball/` never import each
other (the one exception: the bridge reads `fist_and_ball.protocol_v1`).
"""
