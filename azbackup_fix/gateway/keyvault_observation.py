"""Observe an encrypted VM's Key Vault access (the ``key_vault`` of a VmObservation).

Read only when something says the VM is encrypted: ADE settings in the VM model (dual-pass), an
AzureDiskEncryption(ForLinux) extension, or a failed backup with UserErrorKeyvaultPermissionsNotConfigured
(single-pass ADE keeps its settings only on the managed disks, which are then read). Then: each managed
disk's ``encryptionSettingsCollection``, the Backup Management Service principal's object id (Microsoft
Graph, or the gateway's ``backup_service_object_id``), and each vault the keys live in."""

from __future__ import annotations

from typing import Any

from ..errors import AzBackupFixError
from ..models import VirtualMachine
from ..models.keyvault import EncryptionKey, KeyVaultAccess
from .gateway import Gateway
from .keyvault import KeyVaultExtraMissing

__all__ = ["KEY_VAULT_ERROR", "encryption_hinted", "observe_key_vault"]

KEY_VAULT_ERROR = "UserErrorKeyvaultPermissionsNotConfigured"


def _unique(keys: list[EncryptionKey]) -> tuple[EncryptionKey, ...]:
    seen: dict[tuple[str, str, str], EncryptionKey] = {}
    for key in keys:
        seen.setdefault((key.kind, key.vault_id.casefold(), key.disk.casefold()), key)
    return tuple(seen.values())


def encryption_hinted(vm: VirtualMachine) -> bool:
    """Whether the VM model itself says the VM is encrypted (ADE settings or extension)."""
    return vm.encrypted or any(e.is_disk_encryption for e in vm.extensions)


def observe_key_vault(gateway: Gateway, vm: VirtualMachine, *, failed_title: str | None,
                      pool: Any = None) -> KeyVaultAccess | None:
    """``pool``: an executor for the independent reads (each managed disk and the service principal
    together, then each Key Vault together); without one they run in turn."""
    from .observation import inline_executor

    pool = pool if pool is not None else inline_executor()
    model = [k for d in vm.disks for k in d.encryption_keys]
    extension = [k for e in vm.extensions for k in e.encryption_keys]
    if not (encryption_hinted(vm) or (failed_title or "").casefold() == KEY_VAULT_ERROR.casefold()):
        return None
    try:
        reads = gateway.key_vault()
    except KeyVaultExtraMissing as exc:
        return KeyVaultAccess(keys=_unique(model + extension), unavailable=str(exc))
    disk_reads = [pool.submit(reads.disk_encryption_keys, d.managed_disk_id, d.name)
                  for d in vm.disks if d.managed_disk_id]
    principal_read = None
    if gateway.backup_service_object_id is None and (model or extension):
        # Keys known from the model already: the principal is wanted, asked beside the disks.
        principal_read = pool.submit(reads.service_principal_object_id)
    on_disks = [k for f in disk_reads for k in f.result()]
    keys = _unique(model + on_disks + extension)
    if not keys:
        return KeyVaultAccess()
    principal, why = gateway.backup_service_object_id, None
    if principal is None:
        try:
            principal = (principal_read.result() if principal_read is not None
                         else reads.service_principal_object_id())
        except AzBackupFixError as exc:
            why = str(exc)
    vault_ids = list(dict.fromkeys(k.vault_id for k in keys))
    folded: dict[str, str] = {}
    for vault_id in vault_ids:
        folded.setdefault(vault_id.casefold(), vault_id)
    vault_reads = [pool.submit(reads.key_vault, v, principal) for v in folded.values()]
    vaults = tuple(f.result() for f in vault_reads)
    tenant = next((v.tenant_id for v in vaults if v.tenant_id), None)
    return KeyVaultAccess(keys=keys, vaults=vaults, principal_object_id=principal, principal_error=why,
                          tenant_id=tenant)
