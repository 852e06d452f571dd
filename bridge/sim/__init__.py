"""sim of the bridge."""
