"""The playbook registry: classes registered by a stable kebab-case id (Cloud Custodian style).

``@register`` adds a class; :func:`get_playbook`, :func:`playbook_ids`, :func:`all_playbooks`
and :func:`option_schemas` read it. The built-in playbooks register themselves when
:mod:`azbackup_fix.playbooks` is imported; every reader here makes sure that happened.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

from ..errors import InvalidInputError
from ..models.options import Option, as_option

if TYPE_CHECKING:
    from .base import Playbook

__all__ = ["all_playbooks", "get_playbook", "leave_locks_removed", "option_schemas", "playbook_ids", "register"]

_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_REGISTRY: dict[str, type[Playbook]] = {}

P = TypeVar("P", bound="type[Playbook]")


def register(cls: P) -> P:
    """Class decorator: register a playbook under its ``id`` (kebab-case, unique)."""
    pid = getattr(cls, "id", None)
    if not isinstance(pid, str) or not _ID.match(pid):
        raise ValueError(f"playbook {cls.__name__} needs a kebab-case id, got {pid!r}")
    existing = _REGISTRY.get(pid)
    if existing is not None and existing is not cls:
        raise ValueError(f"playbook id {pid!r} is taken by {existing.__name__}")
    _REGISTRY[pid] = cls
    return cls


def _load_builtins() -> None:
    from . import builtin  # noqa: F401  (registers the built-in playbooks)


def all_playbooks() -> tuple[type[Playbook], ...]:
    """Every registered playbook class, ordered by id."""
    _load_builtins()
    return tuple(_REGISTRY[k] for k in sorted(_REGISTRY))


def playbook_ids() -> tuple[str, ...]:
    """Registered ids, sorted."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_playbook(playbook_id: str) -> type[Playbook]:
    """The class for ``playbook_id``; InvalidInputError naming the known ids otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[playbook_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise InvalidInputError(f"unknown playbook '{playbook_id}' (known: {known})") from None


def option_schemas() -> dict[str, dict[str, Option]]:
    """Per playbook id: option name -> :class:`~azbackup_fix.models.options.Option` (type, default,
    constraints), for validating playbook files."""
    return {cls.id: {k: as_option(v) for k, v in cls.options.items()} for cls in all_playbooks()}


def leave_locks_removed() -> dict[str, dict[str, bool]]:
    """``--leave-locks-removed`` as each playbook's own option (``restore_locks: false``): the options to
    merge into a run for every playbook that puts removed locks back."""
    return {cls.id: {"restore_locks": False} for cls in all_playbooks() if "restore_locks" in cls.options}
