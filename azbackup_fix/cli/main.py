# PYTHON_ARGCOMPLETE_OK
"""Entry point of the ``azbackup-fix`` console script.

Shell completion through argcomplete when it is installed (the ``cli`` extra):
``eval "$(register-python-argcomplete azbackup-fix)"``, or argcomplete's global activation."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from typing import TextIO

from .. import __version__
from . import exit_codes
from .commands import COMMANDS
from .commands.base import Io
from .logs import ErrorsOnly, cli_logging
from .options import add_common_options
from .problems import PROG, Problems
from .render.table import compile_query, render_queried

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
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        try:
            import argcomplete
        except ImportError:
            return exit_codes.BAD_INPUT
        argcomplete.autocomplete(parser)
    try:
        # argparse prints usage, help and errors itself: send them to the caller's streams.
        with redirect_stdout(out), redirect_stderr(err):
            args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else exit_codes.BAD_INPUT
    if not getattr(args, "run", None):
        parser.print_help(err)
        return exit_codes.BAD_INPUT
    if args.only_show_errors:
        err = ErrorsOnly(err)
    # --query and -o table work on the command's JSON report, as az's do: the command writes JSON into a
    # buffer (plans shown and questions asked before apply still go to the terminal), then it is shaped.
    shaped = args.query is not None or args.output == "table"
    io = Io(StringIO() if shaped else out, err, prompt=out if shaped else None)
    wanted, query = args.output, None
    try:
        query = compile_query(args.query) if args.query is not None else None  # bad: exit 2, nothing sent
        if shaped:
            args.output = "json"
        with cli_logging(err, verbose=args.verbose, debug=args.debug):
            _check_journal(args)
            code = args.run(args, io)
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as exc:  # every error becomes one line and an exit code
        problems = Problems(io, debug=args.debug)
        problems.add(exc)
        if args.output == "json":
            io.out.write(json.dumps(problems.document(), indent=2) + "\n")
        code = problems.exit_code
    if shaped and isinstance(io.out, StringIO):
        _write_shaped(io.out.getvalue(), out, output=wanted, query=query)
    return code


def _write_shaped(report: str, out: TextIO, *, output: str, query: object) -> None:
    """The command's JSON report(s), queried and rendered; text that is not JSON passes unchanged."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    text = report.strip()
    try:
        while at < len(text):
            document, at = decoder.raw_decode(text, at)
            documents.append(document)
            while at < len(text) and text[at].isspace():
                at += 1
    except ValueError:
        out.write(report)
        return
    if not documents:
        return
    shaped = render_queried(documents[0] if len(documents) == 1 else documents, output=output, query=query)
    if shaped:
        out.write(shaped.rstrip("\n") + "\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
