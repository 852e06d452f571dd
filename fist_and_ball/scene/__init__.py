"""scene of the Blender add-on."""
