"""Targets, as az takes them, on every command that acts on VMs (diagnose, plan, apply, scan):
``--vm ID`` (repeatable), ``--ids ID ...`` (VM or vault ids, space-separated), ``-g/--resource-group`` with
``-n/--name`` (a VM by name; ``-g`` alone: the protected VMs of that group), ``--vault ID`` (its protected
VMs), ``--subscription ID`` (repeatable: their protected VMs) and ``--all-subscriptions``.

Every id is parsed before anything is sent: a malformed one is a one-line error, exit 2."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..errors import InvalidInputError, InvalidResourceIdError
from ..ids import ResourceId, VaultRef, VmRef

__all__ = ["Targets", "add_target_options", "parse_targets"]


@dataclass(frozen=True, slots=True)
class Targets:
    vms: tuple[VmRef, ...] = ()
    vaults: tuple[VaultRef, ...] = ()
    subscriptions: tuple[str, ...] = ()
    all_subscriptions: bool = False
    resource_group: str | None = None  # -g: with names, where they are; alone, a filter
    names: tuple[str, ...] = ()  # -n, resolved once the subscription is known

    @property
    def explicit_vms_only(self) -> bool:
        """Only VMs named one by one: each is read fresh, none is listed."""
        return bool(self.vms or self.names) and not (self.vaults or self.all_subscriptions
                                                      or (self.resource_group and not self.names))


def add_target_options(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_argument_group(
        "targets", "default: every protected VM of --subscription (or of the sandbox)")
    targets.add_argument("--vm", metavar="ID", action="append", default=[], help="VM resource id (repeatable)")
    targets.add_argument("--ids", metavar="ID", nargs="+", action="extend", default=[],
                         help="VM or vault resource ids, space-separated (as az's --ids)")
    targets.add_argument("-g", "--resource-group", metavar="RG", default=None,
                         help="with -n, the VMs' resource group; alone, only the protected VMs in it")
    targets.add_argument("-n", "--name", metavar="VM", action="append", default=[],
                         help="VM name in -g's group (repeatable; subscription from --subscription)")
    targets.add_argument("--vault", metavar="ID", action="append", default=[],
                         help="Recovery Services vault id (repeatable): the VMs it protects")
    targets.add_argument("--all-subscriptions", action="store_true",
                         help="every subscription the credential can read")


def parse_targets(args: argparse.Namespace) -> Targets:
    """The targets of a command line, every id checked; nothing is sent."""
    vms = [VmRef.parse(text) for text in getattr(args, "vm", [])]
    vaults = [VaultRef.parse(text) for text in getattr(args, "vault", [])]
    for text in getattr(args, "ids", []):
        rid = ResourceId.parse(text)
        if rid.is_type(VmRef.RESOURCE_TYPE):
            vms.append(VmRef.parse(rid))
        elif rid.is_type(VaultRef.RESOURCE_TYPE):
            vaults.append(VaultRef.parse(rid))
        else:
            raise InvalidResourceIdError(f"--ids takes VM or Recovery Services vault ids, got '{text}'")
    names = tuple(n.strip() for n in getattr(args, "name", []))
    group = getattr(args, "resource_group", None)
    if names and not group:
        raise InvalidInputError("-n/--name needs -g/--resource-group (or give --vm with the full id)")
    if any(not n or "/" in n for n in names):
        raise InvalidInputError(f"-n/--name takes a VM name, got '{next(n for n in names if not n or '/' in n)}'")
    subscriptions = tuple(dict.fromkeys(getattr(args, "subscriptions", None)
                                        or ([args.subscription] if getattr(args, "subscription", None) else [])))
    if len(subscriptions) == 1:
        only = subscriptions[0].casefold()
        for ref in (*vms, *vaults):
            if ref.subscription_id.casefold() != only:
                kind = "VM" if isinstance(ref, VmRef) else "vault"
                raise InvalidInputError(f"{kind} {ref.name} is in subscription {ref.subscription_id}, "
                                        f"not in --subscription {subscriptions[0]}")
    return Targets(vms=tuple(dict.fromkeys(vms)), vaults=tuple(dict.fromkeys(vaults)), subscriptions=subscriptions,
                   all_subscriptions=bool(getattr(args, "all_subscriptions", False)), resource_group=group,
                   names=names)
