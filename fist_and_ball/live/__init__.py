"""live of the Blender add-on."""
