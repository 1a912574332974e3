"""``--verbose`` and ``--debug`` on stderr, as az users expect: one line per ARM request (method, URL,
status, time, request id) with ``--verbose``; with ``--debug`` also azure-core's HTTP log, whose headers and
query parameters are redacted except an allow-list (bodies are never logged: the backup extension's settings
carry SAS URIs), and azure-identity's log. ``--only-show-errors`` keeps only error lines on stderr."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["ErrorsOnly", "cli_logging"]

_LOGGERS = {
    "azbackup_fix.http": "verbose",  # gateway/policies.py's request lines
    "azure.core.pipeline.policies.http_logging_policy": "debug",
    "azure.mgmt.core.policies": "debug",
    "azure.identity": "debug",
}


@contextmanager
def cli_logging(stream: TextIO, *, verbose: bool, debug: bool) -> Iterator[None]:
    """Within the block, the loggers ``--verbose``/``--debug`` ask for write to ``stream``; levels and
    handlers are put back afterwards. Without ``--debug``, azure-identity stays silent (see identity_log)."""
    from ..identity_log import identity_log

    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
    wanted = [name for name, level in _LOGGERS.items() if debug or (verbose and level == "verbose")]
    saved = {name: logging.getLogger(name).level for name in wanted}
    for name in wanted:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
    try:
        with identity_log(debug=debug):
            yield
    finally:
        for name, level in saved.items():
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.setLevel(level)


class ErrorsOnly(io.TextIOBase):
    """A stderr that passes only error lines (``azbackup-fix: error: ...``, CI annotations of errors):
    progress, warnings and notes are dropped, line by line."""

    _ERRORS = ("azbackup-fix: error", "azbackup-fix: interrupted", "::error", "##vso[task.logissue type=error")

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._partial = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False  # no live progress display on a filtered stream

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            if line.startswith(self._ERRORS):
                self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()
