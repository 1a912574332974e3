"""Least privilege: the RBAC actions a run needs, the operator role, and the permissions preflight.

Pure: no request is sent. What a principal may do comes from an explicit role definition file
(the JSON of ``az role definition list --name ROLE`` or the file ``az role definition create``
takes; a list of several roles means their union), because the ARM permissions API
(``GET {scope}/providers/Microsoft.Authorization/permissions``) needs the very identity that
runs and is not emulated by the sandbox. A dry-run cannot stand in for it: it sends reads
only, so it can never reveal a missing write or delete permission.

    >>> perms = Permissions.load("examples/rbac/azbackup-fix-operator.json")   # doctest: +SKIP
    >>> check({"clear-restore-point-limit": required_actions(["clear-restore-point-limit"])}, perms)
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidInputError

__all__ = [
    "DIAGNOSE_ACTIONS",
    "DIAGNOSE_OPTIONAL_ACTIONS",
    "ROLE_NAME",
    "Grant",
    "Permissions",
    "PreflightResult",
    "SCAN_ACTIONS",
    "FANOUT_ACTIONS",
    "check",
    "plan_needs",
    "preflight_text",
    "KEY_VAULT_READ_ACTIONS",
    "operator_actions",
    "required_actions",
    "role_definition",
]

ROLE_NAME = "azbackup-fix operator"

# The reads `diagnose` (and every plan, which starts with a diagnosis) sends. VMs are read with
# $expand=instanceView and collections with their points (virtualMachines/read and
# restorePointCollections/read cover both); vaults are found through the resources list. Each one is
# shown necessary, and the set sufficient, against the sandbox with RBAC enforced
# (tests/meta/test_rbac_role.py).
DIAGNOSE_ACTIONS: tuple[str, ...] = (
    "Microsoft.Authorization/locks/read",
    "Microsoft.Compute/restorePointCollections/read",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
    "Microsoft.RecoveryServices/Vaults/backupJobs/read",
    "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
    "Microsoft.RecoveryServices/Vaults/backupProtectedItems/read",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/subscriptions/resources/read",
)
# An encrypted VM's Key Vault access (gateway/keyvault_observation.py): its managed disks' ADE settings,
# the vault, and for RBAC vaults the Backup Management Service's roles; read only for encrypted VMs.
KEY_VAULT_READ_ACTIONS: tuple[str, ...] = (
    "Microsoft.Compute/disks/read",
    "Microsoft.KeyVault/vaults/read",
    "Microsoft.Authorization/roleAssignments/read",
    "Microsoft.Authorization/roleDefinitions/read",
)
DIAGNOSE_ACTIONS = (*DIAGNOSE_ACTIONS, *KEY_VAULT_READ_ACTIONS)

# Granted by the operator role but not required: ``backupStatus`` is a POST action the built-in Reader
# role lacks; denied, the diagnosis finds the VM's vault through each vault's item list instead (the
# same findings, tests/hardening/test_reader_diagnose.py), so ``diagnose`` and ``plan`` need Reader only.
# Policy Insights is asked only when a job failed with UserErrorRequestDisallowedByPolicy, to name the
# Deny assignment; denied, the finding says which action would let it (checks/policy.py).
DIAGNOSE_OPTIONAL_ACTIONS: tuple[str, ...] = ("Microsoft.RecoveryServices/locations/backupStatus/action",
                                              "Microsoft.PolicyInsights/policyStates/queryResults/read")


# The fleet scan's discovery: a Resource Graph query needs no action of its own in Azure (its rows are
# trimmed to what the caller may read), but the provider's operation is listed for a custom role that
# names its actions; without it the scan falls back to per-vault listings.
SCAN_ACTIONS: tuple[str, ...] = ("Microsoft.ResourceGraph/resources/read",)
# The fan-out parent (scan --fan-out, runbook scan-fanout) on the Automation account: start the child jobs,
# read their state, their output (each child's report) and their Error stream.
FANOUT_ACTIONS: tuple[str, ...] = (
    "Microsoft.Automation/automationAccounts/jobs/write",
    "Microsoft.Automation/automationAccounts/jobs/read",
    "Microsoft.Automation/automationAccounts/jobs/output/read",
    "Microsoft.Automation/automationAccounts/jobs/streams/read",
)


def _unique_sorted(actions: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for action in actions:
        seen.setdefault(action.casefold(), action)  # ARM compares actions case-insensitively
    return tuple(sorted(seen.values(), key=str.casefold))


def required_actions(playbook_ids: Iterable[str], *, diagnose: bool = True) -> tuple[str, ...]:
    """The actions the given playbooks declare, plus the diagnosis's reads (sorted, unique)."""
    from .playbooks import get_playbook

    actions: list[str] = list(DIAGNOSE_ACTIONS) if diagnose else []
    for pid in playbook_ids:
        actions.extend(get_playbook(pid).actions)
    return _unique_sorted(actions)


def operator_actions() -> tuple[str, ...]:
    """Every action any registered playbook declares, plus the diagnosis's (optional ``backupStatus`` included)
    and the fleet scan's reads."""
    from .playbooks import playbook_ids

    return _unique_sorted([*required_actions(playbook_ids()), *DIAGNOSE_OPTIONAL_ACTIONS, *SCAN_ACTIONS,
                           *FANOUT_ACTIONS])


def plan_needs(plans: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """What a run needs, from its dry-runs (``RunReport`` objects, which only read): the diagnosis's reads,
    plus the declared actions of each playbook that planned a step. Shared by the CLI's and the runbook's
    ``--check-permissions``."""
    needs: dict[str, tuple[str, ...]] = {"diagnose": DIAGNOSE_ACTIONS}
    for plan in plans:
        for result in plan.playbooks:
            if result.steps:
                needs[result.playbook] = required_actions([result.playbook], diagnose=False)
    return needs


def preflight_text(result: PreflightResult) -> str:
    """The preflight's verdict for people: one line when granted, else one line per missing action."""
    if result.ok:
        return f"permissions: all {len(result.required)} required actions are granted"
    lines = [f"permissions: {len(result.missing_actions)} required action(s) missing; nothing was changed"]
    for who, actions in result.missing.items():
        lines += [f"  {who}: {a}" for a in actions]
    return "\n".join(lines)


def role_definition(assignable_scopes: Iterable[str] = ("/subscriptions/00000000-0000-0000-0000-000000000000",),
                    ) -> dict[str, Any]:
    """The custom role, in the format ``az role definition create --role-definition`` reads."""
    return {
        "Name": ROLE_NAME,
        "IsCustom": True,
        # The blob journal's data role is a built-in one, on one container: noted here, never granted.
        "Description": "Diagnose and repair Azure VM Backup failures with azbackup-fix: exactly the "
                       "actions its playbooks declare, plus the reads its diagnosis and fleet scan need. "
                       "Note: a journal in Blob Storage (--journal https://ACCOUNT.blob.core.windows.net/"
                       "CONTAINER) also needs the built-in data role Storage Blob Data Contributor, assigned "
                       "on that container only (not part of this role).",
        "Actions": list(operator_actions()),
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": list(assignable_scopes),
    }


def _matches(action: str, patterns: tuple[str, ...]) -> bool:
    # Azure's wildcard `*` spans '/' too; role actions are case-insensitive.
    return any(fnmatch.fnmatchcase(action.casefold(), p.casefold()) for p in patterns)


@dataclass(frozen=True, slots=True)
class Grant:
    """One role's control-plane permissions: ``actions`` minus ``not_actions``."""

    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()
    name: str = ""

    def allows(self, action: str) -> bool:
        return _matches(action, self.actions) and not _matches(action, self.not_actions)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"role definition: {where} must be a list of strings")
    return tuple(value)


def _grants(doc: Any, source: str) -> list[Grant]:
    if isinstance(doc, list):
        return [g for item in doc for g in _grants(item, source)]
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{source}: a role definition must be a JSON object or a list of them")
    if isinstance(doc.get("value"), list):  # an ARM list response
        return _grants(doc["value"], source)
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else doc
    name = str(props.get("roleName") or props.get("Name") or props.get("name") or "")
    if isinstance(props.get("permissions"), list):  # ARM / `az role definition list` shape
        out = []
        for perm in props["permissions"]:
            if not isinstance(perm, dict):
                raise InvalidInputError(f"{source}: permissions entries must be objects")
            out.append(Grant(_strings(perm.get("actions"), "actions"),
                             _strings(perm.get("notActions"), "notActions"), name))
        return out
    if "Actions" in props or "actions" in props:  # `az role definition create` shape
        actions = props.get("Actions", props.get("actions"))
        not_actions = props.get("NotActions", props.get("notActions"))
        return [Grant(_strings(actions, "Actions"), _strings(not_actions, "NotActions"), name)]
    raise InvalidInputError(f"{source}: no 'Actions' or 'permissions' found in the role definition")


@dataclass(frozen=True, slots=True)
class Permissions:
    """What a principal may do: the union of its roles' grants."""

    grants: tuple[Grant, ...]

    def allows(self, action: str) -> bool:
        return any(g.allows(action) for g in self.grants)

    @classmethod
    def from_document(cls, doc: Any, *, source: str = "role definition") -> Permissions:
        return cls(tuple(_grants(doc, source)))

    @classmethod
    def load(cls, path: str | Path) -> Permissions:
        """Read a role definition JSON file; a clear InvalidInputError when it is not one."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read role definition '{path}': {exc.strerror or exc}") from exc
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"{path}: not JSON ({exc})") from exc
        return cls.from_document(doc, source=str(path))


@dataclass(frozen=True, slots=True)
class PreflightResult:
    """Per playbook (and ``diagnose``), the actions it needs that the permissions lack."""

    required: tuple[str, ...]
    missing: Mapping[str, tuple[str, ...]]

    @property
    def ok(self) -> bool:
        return not any(self.missing.values())

    @property
    def missing_actions(self) -> tuple[str, ...]:
        return _unique_sorted(a for actions in self.missing.values() for a in actions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "required": list(self.required),
            "missing": list(self.missing_actions),
            "missing_by_playbook": {k: list(v) for k, v in self.missing.items() if v},
        }


def check(needs: Mapping[str, Iterable[str]], permissions: Permissions) -> PreflightResult:
    """Compare what each playbook (key) needs with what ``permissions`` allow."""
    needs = {key: tuple(actions) for key, actions in needs.items()}
    missing = {key: _unique_sorted(a for a in actions if not permissions.allows(a)) for key, actions in needs.items()}
    required = _unique_sorted(a for actions in needs.values() for a in actions)
    return PreflightResult(required, {k: v for k, v in missing.items() if v})
