"""training of the bridge."""
