"""The Resource Graph queries a scan sends. Each starts with a marker line ``// azbackup-fix:<name>/v<n>``
(a KQL comment, ignored by Resource Graph) by which the sandbox recognises it; change the version when
the semantics change."""

from __future__ import annotations

__all__ = ["BACKUP_EXTENSIONS", "BACKUP_JOBS", "PROTECTED_ITEMS"]

# Per protected VM the latest Azure VM backup job of the 14 days Resource Graph keeps, plus jobs still
# running (a stuck one is older than the latest). One row per VM, not one per job: 10,000 VMs = 10 pages.
BACKUP_JOBS = """// azbackup-fix:backup-jobs/v1
RecoveryServicesResources
| where type =~ 'microsoft.recoveryservices/vaults/backupjobs'
| where properties.backupManagementType =~ 'AzureIaasVM' and properties.operation =~ 'Backup'
| extend startTime = todatetime(properties.startTime), status = tostring(properties.status)
| where startTime > ago(14d)
| extend vaultId = tolower(tostring(split(id, '/backupJobs/')[0])), container = tolower(tostring(properties.containerName))
| summarize latest = arg_max(startTime, *), running = make_list_if(pack_all(), status in~ ('InProgress', 'Cancelling')) by vaultId, container
| mv-expand row = iff(array_length(running) > 0 and running[0].id != latest.id, array_concat(pack_array(latest), running), pack_array(latest))
| project id = tostring(row.id), name = tostring(row.name), type = tostring(row.type), subscriptionId = tostring(row.subscriptionId), resourceGroup = tostring(row.resourceGroup), properties = row.properties
| order by id asc"""

# Azure VM items the service itself calls unhealthy or no longer protects.
PROTECTED_ITEMS = """// azbackup-fix:protected-items/v1
RecoveryServicesResources
| where type =~ 'microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems'
| where properties.backupManagementType =~ 'AzureIaasVM'
| where properties.protectionState !in~ ('Protected', 'IRPending') or properties.healthStatus !~ 'Passed'
| project id, name, type, subscriptionId, resourceGroup, properties
| order by id asc"""

# Backup extensions (found by publisher and type, not by name) not in the Succeeded state.
BACKUP_EXTENSIONS = """// azbackup-fix:backup-extensions/v1
Resources
| where type =~ 'microsoft.compute/virtualmachines/extensions'
| where properties.publisher =~ 'Microsoft.Azure.RecoveryServices' and tostring(properties.type) in~ ('VMSnapshot', 'VMSnapshotLinux')
| where properties.provisioningState !~ 'Succeeded'
| project id, name, type, subscriptionId, resourceGroup, properties
| order by id asc"""
