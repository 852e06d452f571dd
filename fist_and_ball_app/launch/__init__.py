"""`fist-and-ball launch`: the patient's daily start (docs/launch.md).

blender_finder: which Blender; profile: the patient's settings file; desktop_entry: the
.desktop / shortcut file; supervisor: the bridge and Blender processes; startup_script:
runs inside Blender (scene, connect, patient mode).
"""
