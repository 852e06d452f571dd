"""Headless play: the game in background Blender, fed by a bridge (no UI timers)."""
