"""Undo the Key Vault grants a run made (``azbackup-fix recover --undo-key-vault-grants RUN_ID``).

Each grant was journaled before it was sent (steps/keyvault.py): an access-policy ``add`` is undone by
a ``remove`` of exactly the permissions it added (what the principal held before stays), a role
assignment by deleting that assignment. Each undo is journaled too (action ``key-vault-grant-undone``,
target ``change:<run id>:<id>``), so undoing twice does nothing the second time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import AzBackupFixError
from .journal import Journal
from .steps.keyvault import ACCESS_POLICY_ADDED, ROLE_ASSIGNED
from .undo import UndoLedger

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["GRANT_UNDONE", "GrantUndo", "undo_key_vault_grants"]

GRANT_UNDONE = "key-vault-grant-undone"


@dataclass(frozen=True, slots=True)
class GrantUndo:
    change_id: int
    run_id: str
    action: str  # ACCESS_POLICY_ADDED or ROLE_ASSIGNED
    target: str  # the vault id
    outcome: str  # "removed" | "already-undone" | "failed"
    detail: str
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"change_id": self.change_id, "run_id": self.run_id, "action": self.action, "target": self.target,
                "outcome": self.outcome, "detail": self.detail, "error": self.error}


def undo_key_vault_grants(journal: Journal, gateway: Gateway | Callable[[str], Gateway], run_id: str,
                          *, undo_run_id: str | None = None) -> tuple[GrantUndo, ...]:
    """Undo run ``run_id``'s Key Vault grants, newest first. ``gateway``: one, or a factory by subscription
    id. ``undo_run_id``: the journal run to record the undo under (one is started when not given)."""
    out: list[GrantUndo] = []
    with UndoLedger(journal, run_id, actions=(ACCESS_POLICY_ADDED, ROLE_ASSIGNED), undone_action=GRANT_UNDONE,
                    command="recover --undo-key-vault-grants", undo_run_id=undo_run_id) as ledger:
        for change in ledger.changes:
            detail = json.loads(change.detail)
            if ledger.undone(change):
                out.append(GrantUndo(change.change_id, run_id, change.action, change.target, "already-undone",
                                     change.detail))
                continue
            subscription = change.target.strip("/").split("/")[1]
            gw = gateway if hasattr(gateway, "key_vault") else gateway(subscription)
            try:
                reads = gw.key_vault()  # type: ignore[union-attr]
                if change.action == ACCESS_POLICY_ADDED:
                    perms = tuple((str(k), str(p)) for k, p in detail["permissions"])
                    reads.update_access_policy(change.target, "remove", detail["tenant_id"], detail["object_id"],
                                               perms)
                else:
                    reads.delete_role_assignment(
                        f"{change.target}/providers/Microsoft.Authorization/roleAssignments/{detail['name']}")
            except AzBackupFixError as exc:
                ledger.fail()
                out.append(GrantUndo(change.change_id, run_id, change.action, change.target, "failed",
                                     change.detail, str(exc)))
                continue
            ledger.mark_undone(change)
            out.append(GrantUndo(change.change_id, run_id, change.action, change.target, "removed", change.detail))
    return tuple(out)
