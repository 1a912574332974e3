"""Guard rails: each class of risky change has one name, used alike as the Python keyword
(``run(..., allow_disruptive=True)``), the playbook-file key (``guard_rails: {allow_disruptive: true}``)
and, with dashes, the CLI flag (``--allow-disruptive``). Together they are the whole gate."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DISRUPTIVE", "GUARD_RAILS", "PROTECTION", "GuardRail", "rail_named"]


@dataclass(frozen=True, slots=True)
class GuardRail:
    name: str  # the keyword and the playbook-file key
    allows: str  # what it lets through, for help texts and refusals

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


DISRUPTIVE = GuardRail("allow_disruptive", "restarting a VM, cancelling a stuck backup job")
PROTECTION = GuardRail("allow_protection_changes",
                       "resuming protection, stopping it (data retained), deleting a deleted VM's restore points")
GUARD_RAILS: tuple[GuardRail, ...] = (DISRUPTIVE, PROTECTION)


def rail_named(name: str) -> GuardRail:
    for rail in GUARD_RAILS:
        if rail.name == name:
            return rail
    raise KeyError(name)
