"""The registered commands, in the order ``--help`` lists them."""

from __future__ import annotations

from .base import Command
from .demo import COMMAND as DEMO
from .diagnose import COMMAND as DIAGNOSE
from .network_rules import COMMAND as REMOVE_NETWORK_RULES
from .playbooks import COMMAND as PLAYBOOKS
from .recover import COMMAND as RECOVER
from .remediate import APPLY, PLAN
from .scan import COMMAND as SCAN

__all__ = ["COMMANDS", "Command"]

COMMANDS: tuple[Command, ...] = (DIAGNOSE, PLAN, APPLY, SCAN, RECOVER, REMOVE_NETWORK_RULES, PLAYBOOKS, DEMO)
