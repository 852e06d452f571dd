"""`fist-and-ball` console command: the bridge's commands plus the ones that need the game.

Subcommands are discovered in two places: bridge/cli/cmd_*.py (bridge only: bridge, record,
simulate, calibrate, label, train, evaluate, addon) and fist_and_ball_app/cmd_*.py (play,
demo, report: they use the add-on's game core too). Each command module defines
`register(subparsers) -> None`, adding one subparser whose `func` default takes the parsed
args and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Iterable
from types import ModuleType

import bridge
import bridge.cli
import fist_and_ball_app
from bridge.cli.errors import CliError

COMMAND_PACKAGES = (bridge.cli, fist_and_ball_app)
"""Packages whose cmd_*.py modules are subcommands, in this order."""


def command_modules(packages: Iterable[ModuleType] = COMMAND_PACKAGES) -> list[str]:
    """Dotted names of every cmd_* module in `packages`, sorted by command module name."""
    found: list[tuple[str, str]] = []
    for package in packages:
        modules = pkgutil.iter_modules(package.__path__)
        found += [(m.name, f"{package.__name__}.{m.name}") for m in modules]
    return [dotted for short, dotted in sorted(found) if short.startswith("cmd_")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fist-and-ball",
        description="KMG prosthesis bridge, simulator and the Fist & Ball rehabilitation game.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {bridge.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for dotted in command_modules():
        importlib.import_module(dotted).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except CliError as exc:
        print(f"fist-and-ball {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
