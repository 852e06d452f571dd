"""ui of the Blender add-on."""
