"""Entry point of the ``azbackup-fix`` console script."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import TextIO

from .. import __version__
from ..identity_log import identity_log
from . import exit_codes
from .commands import COMMANDS
from .commands.base import Io
from .options import add_common_options
from .problems import PROG, Problems

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exits with our bad-input code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(exit_codes.BAD_INPUT, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Repair Azure VM Backup failures from the Azure side.",
                     epilog=exit_codes.help_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.description,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(child)
        add_common_options(child, suppress=True)
        child.set_defaults(run=command.run)
    return parser


def _check_journal(args: argparse.Namespace) -> None:
    """--journal / AZBACKUP_JOURNAL that is neither a path nor a blob container URL: one line, nothing sent."""
    from ..journal import check_journal

    spec = getattr(args, "journal", None) or os.environ.get("AZBACKUP_JOURNAL", "").strip()
    if spec:
        check_journal(spec)


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    io = Io(stdout or sys.stdout, stderr or sys.stderr)
    parser = build_parser()
    try:
        # argparse prints usage, help and errors itself: send them to the caller's streams.
        with redirect_stdout(io.out), redirect_stderr(io.err):
            args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else exit_codes.BAD_INPUT
    if not getattr(args, "run", None):
        parser.print_help(io.err)
        return exit_codes.BAD_INPUT
    try:
        with identity_log(debug=args.debug):
            _check_journal(args)
            return args.run(args, io)
    except KeyboardInterrupt:
        io.err.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as exc:  # every error becomes one line and an exit code
        problems = Problems(io, debug=args.debug)
        problems.add(exc)
        if getattr(args, "output", None) == "json":
            io.out.write(json.dumps(problems.document(), indent=2) + "\n")
        return problems.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
