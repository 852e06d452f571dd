"""Fist & Ball: the Blender add-on (game core without bpy, thin bpy adapters)."""
