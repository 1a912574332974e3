"""``--check-permissions ROLE_FILE`` for plan/apply: before any change, compare the actions the routed
playbooks need (from a dry-run of every target, which only reads) with what the role definition
file grants; report what is missing and stop with exit 3.

Why a file: the ARM permissions API answers only for the identity that runs (and the sandbox does
not emulate it), and a dry-run's own 403s cannot reveal missing write or delete permissions.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from ..ids import VmRef
from ..models.rails import given_rails
from ..preflight import Permissions, PreflightResult, check, plan_needs, preflight_text
from . import exit_codes
from .commands.base import Io

__all__ = ["add_permissions_option", "check_permissions", "render_preflight"]


def add_permissions_option(group: Any) -> None:
    group.add_argument("--check-permissions", metavar="ROLE_FILE", default=None,
                       help="before any change, check that this role definition JSON (e.g. `az role "
                            "definition list --name ROLE`) grants every action the planned fixes need; "
                            "exit 3 listing the missing ones")


def render_preflight(result: PreflightResult, output: str) -> str:
    if output == "json":
        return json.dumps({"schema": "azbackup-fix/preflight/v1", **result.to_dict()}, indent=2)
    return preflight_text(result)


def check_permissions(args: argparse.Namespace, io: Io, connection: Any,
                      targets: Sequence[tuple[str, Sequence[VmRef]]], playbook_file: Any) -> int | None:
    """None to go on; exit code 3 (after printing what is missing) to stop before any change."""
    path = getattr(args, "check_permissions", None)
    if not path:
        return None
    from ..remediator import Remediator  # the SDKs: only when a check runs (see connection.py)

    permissions = Permissions.load(path)  # bad file: InvalidInputError, exit 2
    plans = []
    for subscription, refs in targets:
        with Remediator(connection.credential, subscription, playbook_file=playbook_file,
                        **connection.client_kwargs) as fix:
            plans += [fix.plan(ref, **given_rails(args)) for ref in refs]
    result = check(plan_needs(plans), permissions)
    if result.ok:
        io.err.write(render_preflight(result, "text") + "\n")
        return None
    io.out.write(render_preflight(result, args.output) + "\n")
    return exit_codes.PERMISSION
