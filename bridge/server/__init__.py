"""server of the bridge."""
