"""Generated reference files, written from the playbook registry so they cannot drift.

    python -m azbackup_fix.docs            # rewrite docs/playbooks.md and examples/rbac/azbackup-fix-operator.json
    python -m azbackup_fix.docs --check    # exit 1 naming the files that are out of date

``tests/meta/test_generated_docs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .models.options import as_option
from .playbook_file import load_playbook_file
from .playbooks import all_playbooks
from .playbooks.base import Playbook
from .preflight import DIAGNOSE_ACTIONS, DIAGNOSE_OPTIONAL_ACTIONS, role_definition

__all__ = ["PLAYBOOKS_MD", "ROLE_JSON", "generated_files", "main", "playbooks_markdown", "role_json"]

PLAYBOOKS_MD = Path("docs/playbooks.md")
ROLE_JSON = Path("examples/rbac/azbackup-fix-operator.json")

# What a write action does, in words; reads are listed as permissions only.
_EFFECTS: dict[str, str] = {
    "Microsoft.Authorization/locks/delete": "removes management locks that block the fix (journaled first)",
    "Microsoft.Authorization/locks/write": "puts every removed lock back (same name, level, notes), also on failure",
    "Microsoft.Compute/restorePointCollections/delete": "deletes this VM's restore point collections "
                                                        "(matched by source VM id)",
    "Microsoft.Compute/virtualMachines/extensions/write": "re-runs a failed extension that is not the backup "
                                                          "extension (stored settings, new forceUpdateTag)",
    "Microsoft.Compute/virtualMachines/extensions/delete": "uninstalls a failed extension (the VMSnapshot / "
                                                           "VMSnapshotLinux one; another only when asked)",
    "Microsoft.Compute/virtualMachines/reapply/action": "reapplies the VM's state",
    "Microsoft.Network/networkSecurityGroups/securityRules/write": "adds one outbound Allow rule (TCP 443 from the "
                                                                   "NIC's address to Storage.<region>) to the NSG "
                                                                   "that denies it (journaled first)",
    "Microsoft.Network/networkSecurityGroups/securityRules/delete": "removes that rule again, only with "
                                                                    "`azbackup-fix remove-network-rules --yes`",
    "Microsoft.Compute/virtualMachines/restart/action": "restarts the VM (disruptive, only when allowed)",
    "Microsoft.Compute/virtualMachines/redeploy/action": "redeploys the VM to a new host (disruptive, only when "
                                                         "allowed)",
    "Microsoft.RecoveryServices/Vaults/backupJobs/cancel/action": "cancels a stuck, cancellable backup job "
                                                                  "(only when asked)",
    "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action":
        "triggers an on-demand backup with explicit retention and waits for its job",
    "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write":
        "changes protection (resume, or stop retaining data; only when allowed)",
    "Microsoft.KeyVault/vaults/accessPolicies/write":
        "adds exactly the missing keys/secrets permissions to the Backup Management Service's access policy "
        "(an access-policy `add`, never `replace`; undo: `recover --undo-key-vault-grants RUN_ID` removes them)",
    "Microsoft.Authorization/roleAssignments/write":
        "assigns a role (default Key Vault Administrator) to the Backup Management Service at an RBAC vault's "
        "scope (undo: `recover --undo-key-vault-grants RUN_ID` deletes it)",
}


def _effects(cls: type[Playbook]) -> list[str]:
    out = [_EFFECTS[a] for a in cls.actions if a in _EFFECTS]
    return list(dict.fromkeys(out)) or ["nothing: reads and reports only"]


def _flags(cls: type[Playbook]) -> str:
    flags = [name for name, on in (("destructive", cls.destructive), ("disruptive", cls.disruptive),
                                   ("inspection only", cls.inspection_only)) if on]
    if cls.rail is not None:
        flags.append(f"needs `{cls.rail.flag}` / `{cls.rail.name}` ({cls.rail.allows})")
    return ", ".join(flags) or "none"


def _routing(cls: type[Playbook]) -> list[str]:
    rules = []
    for rule in load_playbook_file(None).rules:
        if cls.id in rule.playbooks:
            codes = ", ".join(f"`{c}`" for c in (*rule.error_codes, *rule.finding_codes)) or "any"
            needs = f" (needs {', '.join(rule.requires)})" if rule.requires else ""
            rules.append(f"{rule.name or 'rule'}: {codes}{needs}")
    return rules


def playbooks_markdown() -> str:
    lines = [
        "# Playbooks",
        "",
        "<!-- generated by `python -m azbackup_fix.docs` from the playbook registry; do not edit -->",
        "",
        "Every playbook observes the VM, plans purely from what it read, applies only with `apply`",
        "(`azbackup-fix apply --yes`, `Remediator.run(..., apply=True)`), then verifies on fresh state.",
        "Routing below is the shipped `default.yaml`; options can be set per playbook in a playbook file",
        "(`defaults:` or a rule's `options:`, see [playbook-files.md](playbook-files.md)).",
        "",
        "| id | error codes | changes | flags |",
        "|---|---|---|---|",
    ]
    classes = all_playbooks()
    for cls in classes:
        codes = ", ".join(f"`{c}`" for c in cls.error_codes) or "-"
        lines.append(f"| [`{cls.id}`](#{cls.id}) | {codes} | {'; '.join(_effects(cls))} | {_flags(cls)} |")
    for cls in classes:
        lines += ["", f"## {cls.id}", "", f"**{cls.title or cls.id}**", ""]
        lines.append(f"- Error codes: {', '.join(f'`{c}`' for c in cls.error_codes) or 'none'}")
        lines.append(f"- Flags: {_flags(cls)}")
        routing = _routing(cls)
        lines.append("- Routed by `default.yaml`: " + ("; ".join(routing) if routing else "no rule (run it explicitly)"))
        lines += ["", "What it changes:", ""] + [f"- {e}" for e in _effects(cls)]
        lines += ["", "Permissions (RBAC actions it declares):", ""] + [f"- `{a}`" for a in cls.actions]
        lines += ["", "Options:", ""]
        if cls.options:
            lines += ["| option | type | default | allowed | meaning |", "|---|---|---|---|---|"]
            for name, spec in cls.options.items():
                opt = as_option(spec)
                lines.append(f"| `{name}` | {opt.type.__name__} | `{json.dumps(opt.default)}` "
                             f"| {opt.constraints() or 'any'} | {opt.help} |")
        else:
            lines.append("none")
    lines += ["", "## Reads every run needs", "",
              "Diagnosis (and so every plan) reads with these actions:", ""]
    lines += [f"- `{a}`" for a in DIAGNOSE_ACTIONS]
    lines += ["", "and, when granted, this one (the built-in Reader role lacks it; denied, the diagnosis finds the",
              "VM's vault through each vault's item list instead, so `diagnose` and `plan` need Reader only):", ""]
    lines += [f"- `{a}`" for a in DIAGNOSE_OPTIONAL_ACTIONS]
    lines += ["", "The custom role [`examples/rbac/azbackup-fix-operator.json`](../examples/rbac/azbackup-fix-operator.json)",
              "grants exactly the union of all of the above.", ""]
    return "\n".join(lines)


def role_json() -> str:
    return json.dumps(role_definition(), indent=2) + "\n"


def generated_files() -> dict[Path, str]:
    """Relative path -> the content it must have."""
    return {PLAYBOOKS_MD: playbooks_markdown(), ROLE_JSON: role_json()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m azbackup_fix.docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: .)")
    args = parser.parse_args(argv)
    stale = []
    for rel, content in generated_files().items():
        path = args.root / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(str(rel))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if args.check and stale:
        print("out of date (run `python -m azbackup_fix.docs`): " + ", ".join(stale), file=sys.stderr)
        return 1
    for rel in stale:
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
