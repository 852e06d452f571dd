"""sources of the bridge."""
