"""Asking before apply: only on a terminal (stdin and the output both ttys); otherwise ``--yes`` is needed."""

from __future__ import annotations

import sys

from .commands.base import Io

__all__ = ["ask", "interactive"]


def interactive(io: Io) -> bool:
    stdin = sys.stdin
    return stdin is not None and stdin.isatty() and getattr(io.terminal, "isatty", lambda: False)()


def ask(io: Io, question: str) -> bool:
    """``question`` with ``[y/N]`` on the terminal; true only for y/yes."""
    io.terminal.write(f"{question} [y/N] ")
    io.terminal.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
