"""The start of a guided session in a terminal (`calibrate`, `twin fit --source`, `redon`)."""

from __future__ import annotations

from collections.abc import Callable

from bridge.cli.errors import CliError


def confirm_start(prompt: str, close_source: Callable[[], None]) -> None:
    """Wait for Enter; with no terminal to answer, close the source and say what to do."""
    try:
        input(prompt)
    except EOFError:
        print(flush=True)  # the prompt's line ends here, not in the error message
        close_source()
        raise CliError("no terminal to confirm the start: run with --yes") from None
