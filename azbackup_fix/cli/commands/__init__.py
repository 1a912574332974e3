"""The registered commands, in the order ``--help`` lists them."""

from __future__ import annotations

from .base import Command
from .demo import COMMAND as DEMO
from .diagnose import COMMAND as DIAGNOSE
from .recover import COMMAND as RECOVER

__all__ = ["COMMANDS", "Command"]

COMMANDS: tuple[Command, ...] = (DIAGNOSE, RECOVER, DEMO)
