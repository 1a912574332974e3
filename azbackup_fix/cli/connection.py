"""From the common options to Remediators: sandbox or ARM endpoint, credential, subscriptions."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..ids import VmRef
from ..settings import Settings

if TYPE_CHECKING:
    from ..remediator import Remediator

# The SDK-backed modules (remediator, gateway, the sandbox credential) are imported where a connection is
# made, not here: every command imports this module, and `--help` must not load azure-core or the SDKs.

__all__ = ["Connection", "connect", "group_targets"]


@dataclass
class Connection:
    """How to reach ARM; ``sandbox`` is set when running against an in-process sandbox."""

    credential: Any
    client_kwargs: dict[str, Any]
    default_subscription: str | None = None
    sandbox: Any = None
    sandbox_subscriptions: tuple[str, ...] = field(default_factory=tuple)

    def remediator(self, subscription_id: str, *, journal_path: str | None = None) -> Remediator:
        from ..remediator import Remediator

        return Remediator(self.credential, subscription_id, journal_path=journal_path, **self.client_kwargs)

    def all_subscriptions(self) -> tuple[str, ...]:
        """What 'every protected VM' spans: --subscription, else the sandbox's subscriptions."""
        if self.default_subscription:
            return (self.default_subscription,)
        if self.sandbox is not None:
            return self.sandbox_subscriptions
        raise InvalidInputError("no target: give --vm ID (repeatable) or --subscription ID")

    def targets(self, groups: dict[str, list[VmRef]]) -> list[tuple[str, list[VmRef]]]:
        """The VMs a command acts on: the given ids, else every protected VM of the subscriptions."""
        if groups:
            return list(groups.items())
        out = []
        for subscription in self.all_subscriptions():
            with self.remediator(subscription) as fix:
                out.append((subscription, list(fix.list_protected_vms())))
        return out

    def close(self) -> None:
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
        from azure.identity import DefaultAzureCredential  # slow import: only when talking to Azure

        connection = Connection(
            DefaultAzureCredential(authority=cloud.authority_host),
            {"cloud": cloud, "base_url": endpoint, "retry_after_cap": settings.retry_after_cap},
            default_subscription=subscription or settings.subscription_id,
        )
    try:
        yield connection
    finally:
        connection.close()


def group_targets(vm_ids: list[str], subscription: str | None) -> dict[str, list[VmRef]]:
    """Parse every id first (nothing is sent for a malformed one), grouped by subscription."""
    groups: dict[str, list[VmRef]] = {}
    for text in vm_ids:
        ref = VmRef.parse(text)
        if subscription and ref.subscription_id.casefold() != subscription.casefold():
            raise InvalidInputError(
                f"VM {ref.name} is in subscription {ref.subscription_id}, not in --subscription {subscription}"
            )
        groups.setdefault(ref.subscription_id, []).append(ref)
    return groups
