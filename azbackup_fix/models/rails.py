"""Guard rails: each class of risky change has one name, used alike as the Python keyword
(``run(..., allow_disruptive=True)``), the playbook-file key (``guard_rails: {allow_disruptive: true}``)
and, with dashes, the CLI flag (``--allow-disruptive``). Together they are the whole gate."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DISRUPTIVE",
    "EXTENSIONS",
    "GUARD_RAILS",
    "GUEST",
    "NETWORK",
    "PERMISSIONS",
    "PROTECTION",
    "GuardRail",
    "given_rails",
    "rail_named",
]


@dataclass(frozen=True, slots=True)
class GuardRail:
    name: str  # the keyword and the playbook-file key
    allows: str  # what it lets through, for help texts and refusals

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


DISRUPTIVE = GuardRail("allow_disruptive", "restarting or redeploying a VM, restarting guest services, cancelling a stuck backup job")
PROTECTION = GuardRail("allow_protection_changes",
                       "resuming protection, stopping it (data retained), deleting a deleted VM's restore points")
NETWORK = GuardRail("allow_network_changes",
                    "adding an outbound rule to a network security group (TCP 443 to the region's storage)")
GUEST = GuardRail("allow_guest_changes", "changing settings and services inside the guest through Run Command")
PERMISSIONS = GuardRail("allow_permission_changes",
                        "granting the Backup Management Service access to a Key Vault (access policy or role)")
EXTENSIONS = GuardRail("allow_extension_changes",
                       "re-running (or, when asked, removing) a failed extension that is not the backup extension")
GUARD_RAILS: tuple[GuardRail, ...] = (DISRUPTIVE, PROTECTION, NETWORK, GUEST, PERMISSIONS, EXTENSIONS)


def rail_named(name: str) -> GuardRail:
    for rail in GUARD_RAILS:
        if rail.name == name:
            return rail
    raise KeyError(name)


def given_rails(*sources: object) -> dict[str, bool]:
    """Each rail by name: true when any source sets it (run options, scan options, a playbook file's
    ``guard_rails``; ``None`` sources are skipped). The one place where the sources are combined."""
    return {rail.name: any(bool(getattr(source, rail.name, False)) for source in sources if source is not None)
            for rail in GUARD_RAILS}
