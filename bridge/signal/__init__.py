"""signal of the bridge."""
