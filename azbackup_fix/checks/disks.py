"""Disk sizes Azure Backup cannot handle (report only: the fix is splitting disks)."""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from .catalogue import finding_from_entry
from .evidence import ev
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_disk_sizes"]


def check_disk_sizes(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    vm = obs.vm
    if vm is None:
        return ()
    too_big = []
    # Single-pass ADE shows only on the disks' own settings (read with the Key Vault access).
    ade = obs.key_vault is not None and obs.key_vault.encrypted
    for disk in vm.disks:
        if disk.size_gb is None:
            continue
        encrypted = disk.encrypted or vm.encrypted or ade
        limit = options.max_encrypted_disk_gb if encrypted else options.max_disk_gb
        if disk.size_gb > limit:
            too_big.append((disk, encrypted, limit))
    if not too_big:
        return ()
    evidence = [
        ev(f"disk {d.name}", f"{d.size_gb} GB{' encrypted' if enc else ''} > {limit} GB") for d, enc, limit in too_big
    ]
    names = ", ".join(d.name for d, _, _ in too_big)
    return (
        finding_from_entry(
            "UserErrorUnsupportedDiskSize",
            severity=Severity.ERROR,
            title=f"Disk(s) {names} exceed the size Azure Backup supports; split them",
            evidence=evidence,
        ),
    )
