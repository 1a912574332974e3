"""The gateway's hand-paged lists (``Gateway._pages`` through the SDK clients' ``send_request``) and its
``stream=True`` reads give what the SDK operations give, with the SDKs' own API versions, every page,
and the same error classification."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from azbackup_fix import NotFoundError, SandboxCredential
from azbackup_fix.gateway import Gateway, observe_vm
from azbackup_fix.gateway.convert_backup import job_from_wire, policy_from_wire, protected_item_from_wire
from azbackup_fix.gateway.gateway import BACKUP_API_VERSION, COMPUTE_API_VERSION, JOB_FILTER
from azbackup_fix.gateway.wire import wire
from azbackup_fix.ids import BackupPolicyRef, VmRef
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.control import subscription_ids

RESTORE_POINT_RG = "AzureBackupRG_eastus_1"


def _fleet(page_size: int = 7) -> tuple[Sandbox, Gateway]:
    sandbox = Sandbox()
    sandbox.load("fleet", vms=40, subscriptions=1, vaults=1, mix="healthy=1")
    sandbox.config.page_size = page_size
    sandbox.config.job_page_size = page_size
    gateway = Gateway(SandboxCredential(), subscription_ids(sandbox)[0], transport=sandbox.transport())
    return sandbox, gateway


def _api_versions(sandbox: Sandbox) -> set[str]:
    return {parse_qs(r.query)["api-version"][0] for r in sandbox.requests()}


def test_collections_list_matches_the_sdk_operation_page_by_page() -> None:
    sandbox, gateway = _fleet()
    group = next(g for g in gateway.list_resource_groups() if g.lower().startswith("azurebackuprg"))
    sandbox.clear_requests()
    sdk = [wire(c) for c in gateway.compute.restore_point_collections.list(group)]
    sdk_requests = sandbox.requests()
    sandbox.clear_requests()
    before = gateway.request_count
    ours = gateway.list_restore_point_collections(group)
    assert len(sdk) > 7 and [c.ref.id.casefold() for c in ours] == [str(c["id"]).casefold() for c in sdk]
    assert {c.source_vm_id for c in ours} == {VmRef.parse(c["properties"]["source"]["id"]).resource_id for c in sdk}
    # Same number of pages, same API version as the SDK's own operation.
    assert len(sandbox.requests()) == len(sdk_requests) == -(-len(sdk) // 7)
    assert _api_versions(sandbox) == {COMPUTE_API_VERSION} == {parse_qs(r.query)["api-version"][0] for r in sdk_requests}
    assert gateway.request_count - before == len(sdk_requests)  # counted like any SDK call


def test_one_vms_job_list_matches_the_sdk_operation() -> None:
    sandbox, gateway = _fleet(page_size=1)
    vault = gateway.list_vaults()[0].ref
    vm = VmRef.parse(next(iter(sandbox.backup.items.values())).vm_id)
    name_filter = f"{JOB_FILTER} and entityFriendlyName eq '{vm.name}'"
    sandbox.clear_requests()
    sdk = [wire(j) for j in gateway.backup.backup_jobs.list(vault.name, vault.resource_group, filter=name_filter)]
    sdk_versions = _api_versions(sandbox)
    sandbox.clear_requests()
    gateway.per_vm_job_listing = True
    ours = gateway.jobs_for_vm(vault, vm)
    assert len(sdk) >= 2 and {j.ref.name for j in ours} == {str(j["name"]) for j in sdk}
    assert all(j.concerns(vm) and j.vault == vault for j in ours)
    assert len(sandbox.requests()) == len(sdk)  # one job per page: every nextLink followed
    assert _api_versions(sandbox) == {BACKUP_API_VERSION} == sdk_versions


def test_streamed_reads_equal_the_sdk_models() -> None:
    sandbox, gateway = _fleet()
    vm = VmRef.parse(next(iter(sandbox.backup.items.values())).vm_id)
    obs = observe_vm(gateway, vm)
    assert obs.protected_item is not None and obs.policy is not None and obs.backup_status is not None
    job = obs.jobs[0]
    item_ref, policy_ref = obs.protected_item.ref, BackupPolicyRef.parse(obs.policy.id)
    sdk_item = protected_item_from_wire(wire(gateway.backup.protected_items.get(
        item_ref.vault.name, item_ref.vault.resource_group, item_ref.fabric_name, item_ref.container_name,
        item_ref.item_name)))
    sdk_policy = policy_from_wire(wire(gateway.backup.protection_policies.get(
        policy_ref.vault.name, policy_ref.vault.resource_group, policy_ref.name)))
    sdk_job = job_from_wire(wire(gateway.backup.job_details.get(
        job.vault.name, job.vault.resource_group, job.ref.name)), job.vault)
    assert gateway.get_protected_item(item_ref) == sdk_item
    assert gateway.get_policy(policy_ref) == sdk_policy
    assert gateway.get_job(job.ref) == sdk_job


def test_a_missing_group_is_classified_as_the_sdk_error_would_be() -> None:
    _, gateway = _fleet()
    with pytest.raises(NotFoundError, match="restore point collections in rg-gone.*ResourceGroupNotFound"):
        gateway.list_restore_point_collections("rg-gone")
