"""The CLI's user-facing error type."""


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""
