"""Exit codes shared by every command: the table of :mod:`azbackup_fix.models.exit_codes`."""

from __future__ import annotations

from ..models.exit_codes import (
    ACTION_NEEDED,
    AUTHENTICATION,
    BAD_INPUT,
    CHANGES_PLANNED,
    EXIT_CODES,
    FAILURE,
    OK,
    PERMISSION,
    REPORT_ONLY,
    worst,
)

__all__ = [
    "ACTION_NEEDED", "AUTHENTICATION", "BAD_INPUT", "CHANGES_PLANNED", "EXIT_CODES", "FAILURE", "OK", "PERMISSION",
    "REPORT_ONLY", "help_epilog", "worst",
]


def help_epilog() -> str:
    """The table as --help shows it."""
    return "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
