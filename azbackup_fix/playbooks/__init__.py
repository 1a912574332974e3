"""Playbooks: observe -> plan (pure) -> apply -> verify, registered by a stable kebab-case id."""

from . import builtin  # noqa: F401  (registers the built-ins)
from .base import Plan, Playbook, Verification, resolve_options
from .registry import all_playbooks, get_playbook, leave_locks_removed, option_schemas, playbook_ids, register

__all__ = [
    "Plan",
    "Playbook",
    "Verification",
    "all_playbooks",
    "get_playbook",
    "leave_locks_removed",
    "option_schemas",
    "playbook_ids",
    "register",
    "resolve_options",
]
