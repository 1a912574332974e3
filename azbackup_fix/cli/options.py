"""Options every command accepts, before or after the command name (``azbackup-fix diagnose --debug``)."""

from __future__ import annotations

import argparse

__all__ = ["OUTPUTS", "add_common_options", "add_guard_rail_options"]

OUTPUTS = ("text", "json", "markdown", "table")


def add_common_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """Connection and output options. On subcommands ``suppress`` keeps an option given before
    the command name from being reset to its default by the subcommand's parser."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection and output")
    group.add_argument("--output", "-o", choices=OUTPUTS, default=default("text"), help="report format (default text)")
    group.add_argument("--query", metavar="JMESPATH", default=default(None),
                       help="JMESPath query over the JSON report, as az does (e.g. \"[].findings[].code\"); "
                            "printed as JSON, as bare values with -o text, as a table with -o table")
    group.add_argument("--sandbox", metavar="SCENARIO", default=default(None),
                       help="run against an in-process sandbox loaded with this scenario (no Azure needed)")
    group.add_argument("--arm-endpoint", metavar="URL", default=default(None),
                       help="ARM endpoint (env AZBACKUP_ARM_ENDPOINT); TLS trust via REQUESTS_CA_BUNDLE")
    group.add_argument("--cloud", choices=("AzureCloud", "AzureChinaCloud", "AzureUSGovernment"),
                       type=_cloud, default=default(None), help="Azure cloud (env AZBACKUP_CLOUD; default AzureCloud)")
    group.add_argument("--subscription", metavar="ID", default=default(None), action=_Subscription,
                       help="subscription id (env AZBACKUP_SUBSCRIPTION; default: the VMs' own); "
                            "scan takes it repeatedly")
    group.add_argument("--journal", metavar="PATH|URL", default=default(None),
                       help="journal of removed locks: a file, or a Blob Storage container URL "
                            "https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX] "
                            "(env AZBACKUP_JOURNAL; default a file in the user's state dir)")
    group.add_argument("--backup-service-object-id", metavar="GUID", default=default(None),
                       help="the Backup Management Service principal's object id in your tenant, for Key Vault "
                            "checks where the identity may not read Microsoft Graph")
    group.add_argument("--guest-storage-endpoint", metavar="HOST[:PORT]", default=default(None),
                       help="storage the guest probes test TCP reachability of (port 443 by default) when a VM "
                            "has no boot-diagnostics storage account (env AZBACKUP_GUEST_STORAGE_ENDPOINT)")
    group.add_argument("--only-show-errors", action="store_true", default=default(False),
                       help="on stderr, only errors (no progress, warnings or notes)")
    group.add_argument("--verbose", action="store_true", default=default(False),
                       help="log each ARM request (method, URL, status, time, request id) on stderr")
    group.add_argument("--debug", action="store_true", default=default(False),
                       help="as --verbose, plus azure-core's HTTP log (headers redacted) and tracebacks")


class _Subscription(argparse.Action):
    """Keeps the last value in ``subscription`` (one-subscription commands) and all in ``subscriptions`` (scan)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.subscriptions = [*(getattr(namespace, "subscriptions", None) or []), values]


def _cloud(text: str) -> str:
    for name in ("AzureCloud", "AzureChinaCloud", "AzureUSGovernment"):
        if name.casefold() == text.strip().casefold():
            return name
    return text


def add_guard_rail_options(group: argparse._ActionsContainer) -> None:
    """One flag per guard rail, dest = the rail's name (the playbook file's ``guard_rails`` key)."""
    from ..models.rails import GUARD_RAILS

    for rail in GUARD_RAILS:
        group.add_argument(rail.flag, action="store_true", dest=rail.name,
                           help=f"allow {rail.allows} (playbook-file key {rail.name})")
