"""mevauction — private, real-time auctions for Ethereum block space.

Each subcommand lives in its own module ``mevauction.cli.<name>`` exposing
``register(subparsers)``; the module sets ``func`` on its parser. Errors a user can
cause (:class:`~mevauction.errors.InputError`) are printed as one line and exit 2;
no traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from mevauction import __version__
from mevauction.errors import InputError

SUBCOMMANDS = ["demo", "auction", "scenario", "bench", "sealed", "committee", "preconf", "serve", "evm", "verify",
               "algorithm"]


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line (``mevauction <cmd> -h`` for help)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="mevauction", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mevauction {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module_name = f"mevauction.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(sub)
    return parser



def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
