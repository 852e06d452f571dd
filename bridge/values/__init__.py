"""The values that flow between the bridge's stages (the bottom layer).

Imports only numpy, the standard library and `fist_and_ball.protocol_v1`.
"""
