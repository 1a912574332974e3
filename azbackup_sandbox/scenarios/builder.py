"""Build a validated `EstateSpec` into a sandbox: the one path every estate takes, file or dict.

The caller holds the sandbox lock and has reset it. Ids the spec leaves out come from the sandbox's
random source, seeded by the configured seed and the spec, so one file always builds the same estate."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..providers.backup.models import (
    NEVER_BACKED_UP,
    BackupJob,
    BackupPolicy,
    JobErrorDetail,
    JobTask,
    ProtectedItem,
    Vault,
)
from ..providers.backup.physics import finish_seeded_job
from ..providers.compute.models import (
    AgentState,
    DataDisk,
    Extension,
    RestorePoint,
    RestorePointCollection,
    VirtualMachine,
)
from ..providers.policy.models import PolicyAssignment
from .network import build_network, build_vm_network, build_watchers
from .spec import (
    CollectionSpec,
    EstateSpec,
    ExtensionSpec,
    ItemSpec,
    JobSpec,
    KeyVaultSpec,
    RoleAssignmentSpec,
    SubscriptionSpec,
    VmSpec,
)

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

__all__ = ["build_estate", "set_clock", "run_backup_rounds"]


def set_clock(sandbox: Sandbox, now: datetime) -> None:
    current = sandbox.clock.now()
    if now >= current:
        sandbox.clock.advance((now - current).total_seconds())
    else:
        sandbox.clock.reset(now)


def build_estate(sandbox: Sandbox, spec: EstateSpec) -> None:
    # Ids the spec leaves out, and every id made after loading, come from a random stream of this
    # estate's own: an exported estate holds ids drawn from another stream, which must not be replayed.
    digest = hashlib.sha256(repr(spec).encode("utf-8")).hexdigest()
    sandbox.rng.seed(f"{sandbox.config.seed}:{digest}")
    if spec.now is not None:
        set_clock(sandbox, spec.now)
    runs: list[tuple[ProtectedItem, int]] = []
    for sub in spec.subscriptions:
        runs += _subscription(sandbox, sub)
    built = sandbox.clock.now()
    run_backup_rounds(sandbox, runs)
    _start_job_timers(sandbox, sandbox.clock.now() - built)


def _start_job_timers(sandbox: Sandbox, shift: timedelta) -> None:
    """Seeded jobs' `cancelRefusedForSeconds` and `completesAfterSeconds` count from the end of loading:
    moved past the `runBackups` rounds, which advance the clock."""
    for job in sandbox.backup.jobs.values():
        if job.cancel_refused_until is not None:
            job.cancel_refused_until += shift
        if job.completes_at is not None and job.running:
            job.completes_at += shift
            sandbox.scheduler.at(job.completes_at, finish_seeded_job, sandbox, job, job.completes_at)


def run_backup_rounds(sandbox: Sandbox, runs: list[tuple[ProtectedItem, int]]) -> None:
    """`runBackups: N`: N rounds, each triggering one backup of every item still owed one through the
    job engine, then moving the clock past it (as tonight's scheduled backups would)."""
    from ..providers.backup.physics import trigger_backup

    config = sandbox.config
    for round_ in range(max((n for _, n in runs), default=0)):
        for item, count in runs:
            if count > round_:
                trigger_backup(sandbox, item, None)
        sandbox.advance(config.backup_snapshot_seconds + config.backup_transfer_seconds
                        + config.backup_fail_seconds + 600)


def _subscription(sandbox: Sandbox, sub: SubscriptionSpec) -> list[tuple[ProtectedItem, int]]:
    sid = sub.subscription_id
    created = sandbox.resources.add_subscription(sid, sub.display_name, sub.tenant_id)
    created.state = sub.state
    for group in sub.groups:
        made = sandbox.resources.add_group(sid, group.name, group.location, **group.tags)
        made.managed_by = group.managed_by
    for kv in sub.key_vaults:
        _key_vault(sandbox, sid, sub.tenant_id, kv)
    build_network(sandbox, sub)
    vms = {(vm.resource_group.lower(), vm.name.lower()): _vm(sandbox, sid, vm) for vm in sub.vms}
    for spec in sub.vms:
        build_vm_network(sandbox, sub, spec, vms[(spec.resource_group.lower(), spec.name.lower())])
    build_watchers(sandbox, sub)
    runs: list[tuple[ProtectedItem, int]] = []
    for vault_spec in sub.vaults:
        vault = sandbox.backup.add_vault(Vault(sid, vault_spec.resource_group, vault_spec.name, vault_spec.location,
                                               dict(vault_spec.tags)))
        policies = {}
        for p in vault_spec.policies:
            policies[p.name] = sandbox.backup.add_policy(BackupPolicy(
                vault, p.name, instant_rp_retention_days=p.instant_rp_retention_days, rg_prefix=p.rg_prefix,
                rg_suffix=p.rg_suffix, daily_retention_days=p.daily_retention_days, schedule_time=p.schedule_time,
                policy_type=p.policy_type))
        for item_spec in vault_spec.items:
            vm = vms[(item_spec.vm_resource_group.lower(), item_spec.vm_name.lower())]
            item = _item(sandbox, vault, policies.get(item_spec.policy or ""), vm, item_spec)
            if item_spec.run_backups:
                runs.append((item, item_spec.run_backups))
    for rpc in sub.collections:
        _collection(sandbox, sid, rpc, vms[(rpc.source_resource_group.lower(), rpc.source_name.lower())])
    for lock in sub.locks:
        scope = f"/subscriptions/{sid}" + (f"/{lock.scope}" if lock.scope else "")
        sandbox.locks.put(scope, lock.name, lock.level, lock.notes, [dict(o) for o in lock.owners])
    for pa in sub.policy_assignments:
        sandbox.policy.add(PolicyAssignment(sid, pa.name, pa.display_name, pa.definition_name,
                                            pa.definition_display_name, pa.effect, pa.tag, pa.tag_value, pa.scope))
    for assignment in sub.role_assignments:
        _role_assignment(sandbox, sid, sub.tenant_id, assignment)
    for spec in sub.vms:
        if spec.deleted:
            sandbox.compute.delete_vm(vms[(spec.resource_group.lower(), spec.name.lower())])
    return runs


def _vm(sandbox: Sandbox, sid: str, spec: VmSpec) -> VirtualMachine:
    vm = VirtualMachine(
        subscription_id=sid, resource_group=spec.resource_group, name=spec.name, location=spec.location,
        os_type=spec.os_type, vm_id=spec.vm_id or sandbox.new_guid(), vm_size=spec.vm_size,
        os_disk_size_gb=spec.os_disk_size_gb,
        data_disks=[DataDisk(d.lun, d.name, d.size_gb) for d in spec.data_disks],
        encrypted=spec.encrypted, key_vault_url=spec.key_vault_url,
        provisioning_state=spec.provisioning_state, provisioning_error=spec.provisioning_error,
        provisioning_message=spec.provisioning_message, power_state=spec.power_state,
        agent=AgentState(spec.agent.status, spec.agent.version, spec.agent.message, spec.agent.revived_by_restart,
                         spec.agent.revived_by_redeploy),
        time_created=spec.time_created, computer_name=spec.computer_name, os_name=spec.os_name,
        os_version=spec.os_version, tags=dict(spec.tags), zones=list(spec.zones),
        provision_vm_agent=spec.provision_vm_agent, key_encryption_key=spec.key_encryption_key,
        single_pass=spec.single_pass, boot_diagnostics_storage_uri=spec.boot_diagnostics_storage_uri,
    )
    if spec.key_vault is not None:
        vault = sandbox.keyvault.get(sid, *spec.key_vault)
        vm.key_vault_id, vm.key_vault_url = vault.id, spec.key_vault_url or vault.uri
    sandbox.compute.add_vm(vm)
    if spec.guest is not None:
        from ..providers.compute.guest import guest_from_estate
        from ..providers.compute.runcommand import sync_agent

        vm.guest = guest_from_estate(spec.os_type, spec.agent.version, spec.guest)
        sync_agent(vm)
    for ext in spec.extensions:
        vm.extensions[ext.name.lower()] = _extension(sandbox, vm, ext)
    if spec.provisioning_error is None:
        sandbox.compute.refresh_provisioning(vm)  # a Failed extension fails the VM, as in Azure
    if vm.power_state in ("starting", "stopping", "deallocating"):
        sandbox.compute.begin_transition(vm, spec.transition_seconds)
    return vm


def _extension(sandbox: Sandbox, vm: VirtualMachine, spec: ExtensionSpec) -> Extension:
    failed = spec.provisioning_state == "Failed"
    ext = Extension(
        name=spec.name, publisher=spec.publisher, type=spec.type, type_handler_version=spec.type_handler_version,
        provisioning_state=spec.provisioning_state, settings=dict(spec.settings),
        status_code=spec.status_code or ("ProvisioningState/failed" if failed else "ProvisioningState/succeeded"),
        status_level=spec.status_level or ("Error" if failed else "Info"), status_message=spec.status_message,
        auto_upgrade_minor_version=spec.auto_upgrade_minor_version, force_update_tag=spec.force_update_tag,
        cause_persists=spec.cause_persists,
    )
    if ext.is_backup:  # the service's extension: settings as the job engine writes them when not given,
        from ..providers.backup.physics import backup_extension  # and (fake) SAS URIs, never serialised

        pushed = backup_extension(sandbox, vm, str(spec.settings.get("taskId") or sandbox.new_guid()))
        ext.settings = ext.settings or pushed.settings
        ext.protected_settings = pushed.protected_settings
    return ext


def _item(sandbox: Sandbox, vault: Vault, policy: BackupPolicy | None, vm: VirtualMachine,
          spec: ItemSpec) -> ProtectedItem:
    item = sandbox.backup.add_item(ProtectedItem(
        vault=vault, vm_id=vm.id, vm_name=vm.name, vm_resource_group=vm.resource_group, policy=policy,
        protection_state=spec.protection_state, protection_status=spec.protection_status,
        health_status=spec.health_status, last_backup_status=spec.last_backup_status,
        last_backup_time=spec.last_backup_time or NEVER_BACKED_UP, last_recovery_point=spec.last_recovery_point,
        data_id=spec.data_id if spec.data_id is not None else sandbox.rng.randrange(10**11, 10**12),
        virtual_machine_guid=spec.virtual_machine_guid or vm.vm_id, key_vault_access=spec.key_vault_access,
    ))
    for job in spec.jobs:
        sandbox.backup.add_job(_job(sandbox, vault, item, job))
    return item


def _job(sandbox: Sandbox, vault: Vault, item: ProtectedItem, spec: JobSpec) -> BackupJob:
    return BackupJob(
        vault=vault, job_id=spec.job_id or sandbox.new_guid(), item=item, entity_friendly_name=item.vm_name,
        operation=spec.operation, status=spec.status, start=spec.start, end=spec.end,
        tasks=[JobTask(t.task_id, t.status, t.start, t.end) for t in spec.tasks],
        errors=[JobErrorDetail(e.error_code, e.error_title, e.error_string, list(e.recommendations))
                for e in spec.errors],
        activity_id=spec.activity_id or sandbox.new_guid(), expiry=spec.expiry, on_demand=spec.on_demand,
        cancellable=spec.cancellable, stuck=spec.stuck, dynamic_error_message=spec.dynamic_error_message,
        cancel_refused_until=(sandbox.clock.now() + timedelta(seconds=spec.cancel_refused_seconds)
                              if spec.cancel_refused_seconds else None),
        completes_at=(sandbox.clock.now() + timedelta(seconds=spec.completes_after_seconds)
                      if spec.completes_after_seconds else None),
    )


def _collection(sandbox: Sandbox, sid: str, spec: CollectionSpec, vm: VirtualMachine) -> None:
    rpc = sandbox.compute.add_collection(RestorePointCollection(
        subscription_id=sid, resource_group=spec.resource_group,
        name=spec.name or f"AzureBackup_{vm.name}_{sandbox.rng.getrandbits(64)}", location=spec.location,
        source_id=vm.id, collection_id=spec.collection_id or sandbox.new_guid(),
        provisioning_state=spec.provisioning_state, tags=dict(spec.tags),
    ))
    from ..providers.backup.physics import restore_point_name

    if spec.point_count is not None:
        base = sandbox.clock.now().replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=1)
        for index in reversed(range(spec.point_count)):
            when = base - timedelta(days=index)
            rpc.points.append(RestorePoint(restore_point_name(when), when))
    for point in spec.points:
        rpc.points.append(RestorePoint(point.name or restore_point_name(point.time_created), point.time_created,
                                       point.consistency_mode, point.provisioning_state))


def _key_vault(sandbox: Sandbox, sid: str, tenant_id: str, spec: KeyVaultSpec) -> None:
    from ..providers.graph.models import backup_service_object_id
    from ..providers.keyvault.models import AccessPolicy, KeyVault

    tenant = spec.tenant_id or tenant_id
    policies = [AccessPolicy(p.tenant_id or tenant, p.object_id or backup_service_object_id(tenant),
                             {k: list(v) for k, v in p.permissions.items()}) for p in spec.access_policies]
    sandbox.keyvault.add(KeyVault(sid, spec.resource_group, spec.name, spec.location, tenant, spec.rbac, policies,
                                  enabled_for_disk_encryption=spec.enabled_for_disk_encryption,
                                  tags=dict(spec.tags)))


def _role_assignment(sandbox: Sandbox, sid: str, tenant_id: str, spec: RoleAssignmentSpec) -> None:
    from ..providers.graph.models import backup_service_object_id

    role = sandbox.authorization.role(spec.role)
    assert role is not None  # validated by the schema
    scope = f"/subscriptions/{sid}" + (f"/{spec.scope}" if spec.scope else "")
    sandbox.authorization.put(scope, spec.name or sandbox.new_guid(), {"properties": {
        "roleDefinitionId": role.id_at(sid), "principalId": spec.principal_id or backup_service_object_id(tenant_id),
        "principalType": "ServicePrincipal"}})
