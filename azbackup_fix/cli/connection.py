"""From the common options to Remediators: sandbox or ARM endpoint, credential, subscriptions."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..ids import VmRef, parse_object_id
from ..sdk_imports import SDK_IMPORT_LOCK
from ..settings import Settings
from .targets import Targets

if TYPE_CHECKING:
    from ..gateway import Gateway
    from ..remediator import Remediator

# The SDK-backed modules (remediator, gateway, the sandbox credential) are imported where a connection is
# made, not here: every command imports this module, and `--help` must not load azure-core or the SDKs.

__all__ = ["Connection", "connect"]


@dataclass
class Connection:
    """How to reach ARM; ``sandbox`` is set when running against an in-process sandbox."""

    credential: Any
    client_kwargs: dict[str, Any]
    default_subscription: str | None = None
    sandbox: Any = None
    sandbox_subscriptions: tuple[str, ...] = field(default_factory=tuple)

    _remediators: dict[tuple[str, str | None], Remediator] = field(default_factory=dict)

    def remediator(self, subscription_id: str, *, journal_path: str | None = None) -> Remediator:
        """One Remediator per subscription (and journal) for the connection's life, so that a listing
        and the diagnoses after it share the gateway's cache; closed with the connection (no ``with``)."""
        from ..remediator import Remediator

        key = (subscription_id.casefold(), journal_path)
        if key not in self._remediators:
            self._remediators[key] = Remediator(self.credential, subscription_id, journal_path=journal_path,
                                                **self.client_kwargs)
        return self._remediators[key]

    def list_subscriptions(self) -> tuple[str, ...]:
        """Every enabled subscription the credential sees (``GET /subscriptions``)."""
        from ..gateway import Gateway

        with Gateway(self.credential, "00000000-0000-0000-0000-000000000000", **self.client_kwargs) as gw:
            return gw.resource_graph().list_subscriptions()

    def resolve(self, targets: Targets, *, journal_path: str | None = None) -> list[tuple[str, list[VmRef]]]:
        """The VMs a command acts on, by subscription: the ones named, the ones the vaults protect, and
        every protected VM of the subscriptions asked for (default: --subscription, else the sandbox's);
        ``-g`` alone keeps those in that resource group."""
        chosen: dict[VmRef, None] = dict.fromkeys(targets.vms)
        if targets.names:
            sub = self.subscription_for_names(targets)
            chosen.update(dict.fromkeys(VmRef.parse(
                f"/subscriptions/{sub}/resourceGroups/{targets.resource_group}"
                f"/providers/Microsoft.Compute/virtualMachines/{name}") for name in targets.names))
        for vault in targets.vaults:
            fix = self.remediator(vault.subscription_id, journal_path=journal_path)
            chosen.update(dict.fromkeys(fix.list_protected_vms(vaults=(vault,))))
        if targets.all_subscriptions:
            listed = self.list_subscriptions()
        elif targets.vms or targets.names or targets.vaults:
            listed = ()
        else:  # -g alone, --subscription ..., or nothing: every protected VM there
            listed = targets.subscriptions or self.all_subscriptions()
        group = targets.resource_group.casefold() if targets.resource_group and not targets.names else None
        for sub in listed:
            for vm in self.remediator(sub, journal_path=journal_path).list_protected_vms():
                if group is None or vm.resource_group.casefold() == group:
                    chosen.setdefault(vm, None)
        out: dict[str, list[VmRef]] = {}
        for vm in chosen:
            out.setdefault(vm.subscription_id, []).append(vm)
        return list(out.items())

    def subscription_for_names(self, targets: Targets) -> str:
        """The one subscription -g/-n names VMs in: --subscription, the environment's, or the sandbox's only one."""
        if len(targets.subscriptions) > 1:
            raise InvalidInputError("-g/-n names VMs in one subscription: give one --subscription")
        sub = targets.subscriptions[0] if targets.subscriptions else self.default_subscription
        if not sub and self.sandbox is not None and len(self.sandbox_subscriptions) == 1:
            sub = self.sandbox_subscriptions[0]
        if not sub:
            raise InvalidInputError("-g/-n needs the subscription: give --subscription ID (or AZBACKUP_SUBSCRIPTION)")
        return sub

    def all_subscriptions(self) -> tuple[str, ...]:
        """What 'every protected VM' spans: --subscription, else the sandbox's subscriptions."""
        if self.default_subscription:
            return (self.default_subscription,)
        if self.sandbox is not None:
            return self.sandbox_subscriptions
        raise InvalidInputError("no target: give --vm ID (repeatable) or --subscription ID")

    def gateways(self, stack: ExitStack) -> Callable[[str], Gateway]:
        """One gateway per subscription, opened on first use and closed with ``stack`` (journal-driven
        commands: the journal names the subscriptions)."""
        from ..gateway import Gateway  # the SDKs: only when a connection is used (see the module's note)

        opened: dict[str, Gateway] = {}

        def gateway_for(subscription: str) -> Gateway:
            key = subscription.casefold()
            if key not in opened:
                opened[key] = stack.enter_context(Gateway(self.credential, subscription, **self.client_kwargs))
            return opened[key]

        return gateway_for

    def close(self) -> None:
        for fix in self._remediators.values():
            fix.close()
        self._remediators.clear()
        close = getattr(self.credential, "close", None)
        if callable(close):
            close()


def _sandbox(name: str) -> tuple[Any, tuple[str, ...]]:
    # The one place the library reaches into the emulator, and only when asked to.
    from azbackup_sandbox import Sandbox
    from azbackup_sandbox.core.control import subscription_ids

    try:
        sandbox = Sandbox(scenario=name)
    except KeyError as exc:
        raise InvalidInputError(str(exc.args[0]) if exc.args else f"unknown sandbox scenario '{name}'") from exc
    return sandbox, tuple(subscription_ids(sandbox))


@contextmanager
def connect(args: argparse.Namespace, settings: Settings) -> Iterator[Connection]:
    from ..gateway import get_cloud
    from ..sandbox_credential import SandboxCredential

    subscription = args.subscription or None
    if args.sandbox:
        if args.arm_endpoint:
            raise InvalidInputError("--sandbox and --arm-endpoint exclude each other")
        sandbox, subs = _sandbox(args.sandbox)
        connection = Connection(
            SandboxCredential(),
            {"transport": sandbox.transport(), "polling_interval": 0},
            default_subscription=subscription,
            sandbox=sandbox,
            sandbox_subscriptions=subs,
        )
    else:
        cloud = get_cloud(args.cloud or settings.cloud)
        endpoint = args.arm_endpoint or settings.arm_endpoint
        if endpoint and not endpoint.lower().startswith("https://"):
            raise InvalidInputError(f"--arm-endpoint must be an https:// URL, got '{endpoint}'")
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.identity import DefaultAzureCredential  # slow import: only when talking to Azure

        connection = Connection(
            DefaultAzureCredential(authority=cloud.authority_host),
            {"cloud": cloud, "base_url": endpoint, "retry_after_cap": settings.retry_after_cap},
            default_subscription=subscription or settings.subscription_id,
        )
    object_id = getattr(args, "backup_service_object_id", None)
    if object_id:  # Key Vault checks: instead of the Graph lookup (gateway/keyvault.py)
        connection.client_kwargs["backup_service_object_id"] = parse_object_id(object_id,
                                                                               "--backup-service-object-id")
    endpoint = getattr(args, "guest_storage_endpoint", None) or settings.guest_storage_endpoint
    if endpoint:  # the guest probes' storage check (guest/endpoints.py); validated before any request
        from ..guest.endpoints import parse_endpoint

        connection.client_kwargs["guest_storage_endpoint"] = parse_endpoint(endpoint)
    try:
        yield connection
    finally:
        connection.close()
