"""One-line error reporting and the exit code they add up to."""

from __future__ import annotations

import traceback

from ..errors import AzBackupFixError, one_line
from . import exit_codes
from .commands.base import Io

__all__ = ["ERROR_SCHEMA", "PROG", "Problems", "exit_code_of"]

PROG = "azbackup-fix"
ERROR_SCHEMA = "azbackup-fix/error/v1"


def exit_code_of(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, AzBackupFixError) else exit_codes.FAILURE


class Problems:
    """Collects errors of a run: each printed as one line (a traceback only with ``--debug``)."""

    def __init__(self, io: Io, *, debug: bool = False) -> None:
        self.io = io
        self.debug = debug
        self.codes: list[int] = []
        self.errors: list[dict[str, object]] = []  # for the JSON error object

    def add(self, exc: BaseException, *, where: str | None = None) -> None:
        self.codes.append(exit_code_of(exc))
        self.errors.append({"target": where, "type": type(exc).__name__, "message": one_line(exc),
                            "exit_code": exit_code_of(exc)})
        if self.debug:
            self.io.err.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        prefix = f"{where}: " if where else ""
        self.io.err.write(f"{PROG}: error: {prefix}{one_line(exc)}\n")

    def __bool__(self) -> bool:
        return bool(self.codes)

    @property
    def exit_code(self) -> int:
        return exit_codes.worst(self.codes)

    def document(self) -> dict[str, object]:
        """What ``--output json`` prints when the errors are all there is: an object, never ``null``."""
        return {"schema": ERROR_SCHEMA, "exit_code": self.exit_code, "errors": list(self.errors)}
