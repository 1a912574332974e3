"""The Resource Graph queries a scan sends, plain KQL that Resource Graph (and the sandbox's interpreter of
the same subset) evaluates. What :mod:`.discovery` parses from each: rows with ``id, name, type,
subscriptionId, resourceGroup, properties``, ``properties`` as the job, item or extension API returns it."""

from __future__ import annotations

__all__ = ["BACKUP_EXTENSIONS", "BACKUP_JOBS", "PROTECTED_ITEMS"]

# Per protected VM (vault + container) the latest Azure VM backup job of the 14 days Resource Graph keeps,
# plus jobs still running (a stuck one is older than the latest). One row per VM, not one per job:
# 10,000 VMs = 10 pages. The join against the latest start per VM keeps the row shape the job API has.
_AZURE_VM_BACKUP_JOBS = """RecoveryServicesResources
| where type =~ 'microsoft.recoveryservices/vaults/backupjobs'
| where properties.backupManagementType =~ 'AzureIaasVM' and properties.operation =~ 'Backup'
| extend startTime = todatetime(properties.startTime), status = tostring(properties.status)
| where startTime > ago(14d)
| extend vaultId = tostring(split(tolower(id), '/backupjobs/')[0]), container = tolower(tostring(properties.containerName))"""

BACKUP_JOBS = f"""{_AZURE_VM_BACKUP_JOBS}
| join kind=inner (
    {_AZURE_VM_BACKUP_JOBS.replace(chr(10), chr(10) + '    ')}
    | summarize latestStart = max(startTime) by vaultId, container
) on vaultId, container
| where startTime == latestStart or status in~ ('InProgress', 'Cancelling')
| project id, name, type, subscriptionId, resourceGroup, properties
| order by id asc"""

# Azure VM items the service itself calls unhealthy or no longer protects.
PROTECTED_ITEMS = """RecoveryServicesResources
| where type =~ 'microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems'
| where properties.backupManagementType =~ 'AzureIaasVM'
| where properties.protectionState !in~ ('Protected', 'IRPending') or properties.healthStatus !~ 'Passed'
| project id, name, type, subscriptionId, resourceGroup, properties
| order by id asc"""

# Backup extensions (found by publisher and type, not by name) not in the Succeeded state.
BACKUP_EXTENSIONS = """Resources
| where type =~ 'microsoft.compute/virtualmachines/extensions'
| where properties.publisher =~ 'Microsoft.Azure.RecoveryServices' and tostring(properties.type) in~ ('VMSnapshot', 'VMSnapshotLinux')
| where properties.provisioningState !~ 'Succeeded'
| project id, name, type, subscriptionId, resourceGroup, properties
| order by id asc"""
