"""outputs of the bridge."""
