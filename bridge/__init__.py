"""Fist & Ball bridge: KMG sources, decoders and outputs, with no bpy."""

__version__ = "0.1.0"
