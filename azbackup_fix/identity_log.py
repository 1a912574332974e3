"""azure-identity's own log, silenced unless asked for: it logs every failed credential at WARNING (eight
lines for one missing login), where the CLI's and the runbook's one-line error says it better."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["identity_log"]


@contextmanager
def identity_log(*, debug: bool) -> Iterator[None]:
    """Within the block, azure-identity logs only when ``debug`` (``--debug``); its level is put back after."""
    logger = logging.getLogger("azure.identity")
    level = logger.level
    if not debug:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
