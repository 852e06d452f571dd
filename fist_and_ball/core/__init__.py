"""Game rules with no bpy: unit-testable anywhere."""
