"""cli of the bridge."""
