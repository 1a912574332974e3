"""``azbackup-fix remove-network-rules``: take out the NSG rules allow-storage-outbound added.

Lists every rule the journal (--journal PATH, env AZBACKUP_JOURNAL) says a run added and no run removed
since, and what would happen to it; with ``--yes`` removes each one that is still as it was added (a rule
changed since is left alone and reported). Nothing else in any NSG changes. Do this once the path to
storage is open another way (a firewall rule, a proxy, a service endpoint): the VM's backups need it.

Exit codes: 0 nothing to remove, or all removed (or listed, without --yes: 4 when some would be removed);
1 a rule could not be removed; 2 bad input or an unreadable journal; 3 permission denied.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from ...journal import Journal
from ...network_rules import RuleRemoval, added_rules, remove_added_rules
from ...settings import Settings
from .. import exit_codes
from ..connection import connect
from .base import Command, Io
from .recover import journal_path

__all__ = ["COMMAND", "render_removals"]

_LABEL = {"would-remove": "would remove", "removed": "removed", "absent": "gone", "changed": "CHANGED",
          "failed": "FAILED"}


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", "-y", action="store_true", help="remove the rules (without it: list them only)")


def render_removals(results: Sequence[RuleRemoval], output: str, *, journal: Path, applied: bool) -> str:
    if output == "json":
        return json.dumps({"journal": str(journal), "applied": applied, "rules": [r.to_dict() for r in results]},
                          indent=2)
    if not results:
        return f"remove-network-rules: no rule added by azbackup-fix is journaled in {journal}"
    lines = [f"remove-network-rules: {len(results)} rule(s) added by azbackup-fix ({journal})"]
    for r in results:
        p = r.rule.properties
        line = (f"  {_LABEL[r.outcome]:<12} '{r.rule.name}' in {r.rule.nsg_id} (priority {p.get('priority')}, "
                f"{p.get('sourceAddressPrefix')} -> {p.get('destinationAddressPrefix')}:{p.get('destinationPortRange')})")
        lines.append(line + (f": {r.message}" if r.message else ""))
    if not applied and any(r.outcome == "would-remove" for r in results):
        lines.append("  (listed only: --yes removes them)")
    return "\n".join(lines)


def _run(args: argparse.Namespace, io: Io) -> int:
    settings = Settings.from_env()
    path = journal_path(args, settings)
    with Journal(path) as journal:
        results: tuple[RuleRemoval, ...] = ()
        if added_rules(journal):
            with connect(args, settings) as connection, ExitStack() as stack:
                results = remove_added_rules(journal, connection.gateways(stack), apply=bool(args.yes),
                                             subscription=args.subscription or None)
    io.out.write(render_removals(results, args.output, journal=path, applied=bool(args.yes)).rstrip("\n") + "\n")
    if any(r.outcome == "failed" for r in results):
        return exit_codes.FAILURE
    if not args.yes and any(r.outcome == "would-remove" for r in results):
        return exit_codes.CHANGES_PLANNED
    return exit_codes.OK


COMMAND = Command(
    name="remove-network-rules",
    help="remove the NSG rules allow-storage-outbound added (from the journal; lists them without --yes)",
    description=__doc__ or "",
    add_arguments=_arguments,
    run=_run,
)
