"""`fist-and-ball` console command: discovers subcommands in bridge/cli/cmd_*.py.

Each command module defines `register(subparsers) -> None`, adding one subparser whose
`func` default takes the parsed args and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bridge
from bridge.cli import __path__ as _cli_path
from bridge.cli.errors import CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fist-and-ball",
        description="KMG prosthesis bridge, simulator and the Fist & Ball rehabilitation game.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {bridge.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(m.name for m in pkgutil.iter_modules(_cli_path) if m.name.startswith("cmd_")):
        importlib.import_module(f"bridge.cli.{mod}").register(sub)
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
