"""Key Vault permissions of an encrypted VM (UserErrorKeyvaultPermissionsNotConfigured), from state.

Names exactly which permissions the Backup Management Service principal lacks on which vault, under
the vault's access model; an error finding, so no backup is triggered while it lasts."""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from ..models.keyvault import BACKUP_MANAGEMENT_APP_ID, KeyVaultAccess, format_permissions
from .catalogue import finding_from_entry
from .evidence import ev, ev_list
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_key_vault_access"]

CODE = "UserErrorKeyvaultPermissionsNotConfigured"


def _common(kv: KeyVaultAccess) -> list:
    return [ev_list("encryption found in", kv.sources),
            ev_list("key vault", [v.vault_id for v in kv.vaults]),
            ev("backup service app id", BACKUP_MANAGEMENT_APP_ID),
            ev("backup service object id", kv.principal_object_id)]


def check_key_vault_access(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    del options
    kv = obs.key_vault
    if kv is None or obs.vm is None:
        return ()
    if kv.unavailable is not None:
        return (finding_from_entry(CODE, severity=Severity.WARNING, evidence=[ev("not checked", kv.unavailable)],
                                   title="The VM is encrypted; its Key Vault access was not checked: "
                                         + kv.unavailable),)
    if not kv.encrypted:
        return ()
    if kv.principal_object_id is None:
        return (finding_from_entry(CODE, severity=Severity.WARNING, evidence=[*_common(kv),
                                   ev("principal lookup", kv.principal_error)],
                                   title="The VM is encrypted; the Backup Management Service principal could not "
                                         f"be looked up ({kv.principal_error})"),)
    findings: list[Finding] = []
    needed = kv.needed()
    for vault in kv.vaults:
        wanted = needed.get(vault.vault_id.casefold(), ())
        if vault.error is not None:
            findings.append(finding_from_entry(CODE, severity=Severity.ERROR, evidence=[
                *_common(kv), ev("key vault error", vault.error)],
                title=f"Key Vault {vault.name} of the encrypted VM could not be read: {vault.error}"))
            continue
        lacking = vault.missing(kv.principal_object_id, wanted)
        if not lacking:
            continue
        evidence = [*_common(kv), ev("access model", vault.access_model),
                    ev("needed permissions", format_permissions(wanted)),
                    ev("missing permissions", format_permissions(lacking))]
        if vault.rbac:
            evidence.append(ev_list("role assignments", [f"{g.role_name} at {g.scope}" for g in vault.role_grants]))
        else:
            held = vault.policy_for(kv.principal_object_id)
            evidence.append(ev("access policy", "none" if held is None else format_permissions(
                tuple(("keys", p) for p in held.keys) + tuple(("secrets", p) for p in held.secrets))))
        findings.append(finding_from_entry(CODE, severity=Severity.ERROR, evidence=evidence, title=(
            f"Key Vault {vault.name} ({vault.access_model}) does not give the Backup Management Service "
            f"{format_permissions(lacking)}: backups of this encrypted VM fail")))
    return tuple(findings)
