"""decoders of the bridge."""
