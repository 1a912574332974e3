"""Virtual machines, their extensions and restore point collections, with the rules that matter to
backup: extension deletion passes through `Deleting`, a failed extension fails the VM's provisioning,
restarts revive an unresponsive agent, and a large collection delete times out before it finishes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.operations import Operation
from . import errors

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = [
    "AgentState",
    "Extension",
    "DataDisk",
    "VirtualMachine",
    "RestorePoint",
    "RestorePointCollection",
    "ComputeBackend",
    "BACKUP_PUBLISHER",
    "backup_extension_type",
]

BACKUP_PUBLISHER = "Microsoft.Azure.RecoveryServices"
VM_TYPE = "Microsoft.Compute/virtualMachines"
RPC_TYPE = "Microsoft.Compute/restorePointCollections"


def backup_extension_type(os_type: str) -> str:
    return "VMSnapshotLinux" if os_type.lower() == "linux" else "VMSnapshot"


@dataclass
class AgentState:
    status: str = "Ready"  # "Ready" | "Not Ready" | "" (no agent reported, e.g. deallocated)
    version: str = "2.7.41491.1102"
    message: str = "GuestAgent is running and accepting new configurations."
    revived_by_restart: bool = True  # an unresponsive agent that a restart brings back

    @property
    def ready(self) -> bool:
        return self.status == "Ready"


@dataclass
class Extension:
    name: str
    publisher: str
    type: str
    type_handler_version: str
    provisioning_state: str = "Succeeded"
    settings: dict[str, Any] = field(default_factory=dict)
    protected_settings: dict[str, Any] = field(default_factory=dict)  # never serialised, never logged
    status_code: str = "ProvisioningState/succeeded"
    status_level: str = "Info"
    status_message: str = ""
    auto_upgrade_minor_version: bool = True

    @property
    def is_backup(self) -> bool:
        return self.publisher.lower() == BACKUP_PUBLISHER.lower() and self.type.lower() in (
            "vmsnapshot",
            "vmsnapshotlinux",
        )

    @property
    def failed(self) -> bool:
        return self.provisioning_state.lower() == "failed"


@dataclass
class DataDisk:
    lun: int
    name: str
    size_gb: int


@dataclass
class VirtualMachine:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    os_type: str  # "Windows" | "Linux"
    vm_id: str
    vm_size: str = "Standard_D2s_v3"
    os_disk_size_gb: int = 127
    data_disks: list[DataDisk] = field(default_factory=list)
    encrypted: bool = False
    key_vault_url: str | None = None
    provisioning_state: str = "Succeeded"
    provisioning_error: str | None = None  # e.g. VMExtensionProvisioningError, OSProvisioningTimedOut
    provisioning_message: str | None = None
    power_state: str = "running"  # running | deallocated | stopped | starting | stopping | deallocating
    agent: AgentState = field(default_factory=AgentState)
    extensions: dict[str, Extension] = field(default_factory=dict)
    time_created: datetime | None = None
    computer_name: str = ""
    os_name: str = ""
    os_version: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    busy_until: datetime | None = None  # an in-flight VM operation (409 for a conflicting one)

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{VM_TYPE}/{self.name}")

    @property
    def running(self) -> bool:
        return self.power_state == "running"

    def backup_extension(self) -> Extension | None:
        return next((e for e in self.extensions.values() if e.is_backup), None)


@dataclass
class RestorePoint:
    name: str
    time_created: datetime
    consistency_mode: str = "CrashConsistent"
    provisioning_state: str = "Succeeded"


@dataclass
class RestorePointCollection:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    source_id: str
    collection_id: str
    points: list[RestorePoint] = field(default_factory=list)
    provisioning_state: str = "Succeeded"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{RPC_TYPE}/{self.name}")


def _key(subscription_id: str, resource_group: str, name: str) -> tuple[str, str, str]:
    return (subscription_id.lower(), resource_group.lower(), name.lower())


class ComputeBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.vms: dict[tuple[str, str, str], VirtualMachine] = {}
        self.collections: dict[tuple[str, str, str], RestorePointCollection] = {}
        self._by_vm_id: dict[str, VirtualMachine] = {}
        self._by_source: dict[str, dict[tuple[str, str, str], RestorePointCollection]] = {}
        # Compute RP throttling windows per (subscription, policy): call times in the last 3 and 30 minutes.
        self._calls: dict[tuple[str, str], tuple[deque[datetime], deque[datetime]]] = {}

    # ---- virtual machines ------------------------------------------------------------------
    def add_vm(self, vm: VirtualMachine) -> VirtualMachine:
        self._sb.resources.require_group(vm.subscription_id, vm.resource_group)
        vm.computer_name = vm.computer_name or vm.name[:15]
        self.vms[_key(vm.subscription_id, vm.resource_group, vm.name)] = vm
        self._by_vm_id[vm.id.lower()] = vm
        return vm

    def find_vm(self, subscription_id: str, resource_group: str, name: str) -> VirtualMachine | None:
        return self.vms.get(_key(subscription_id, resource_group, name))

    def get_vm(self, subscription_id: str, resource_group: str, name: str) -> VirtualMachine:
        vm = self.find_vm(subscription_id, resource_group, name)
        if vm is None:
            raise errors.resource_not_found(VM_TYPE, name, resource_group)
        return vm

    def vm_by_id(self, vm_id: str) -> VirtualMachine | None:
        return self._by_vm_id.get(vm_id.rstrip("/").lower())

    def list_vms(self, subscription_id: str, resource_group: str | None = None) -> list[VirtualMachine]:
        sub, rg = subscription_id.lower(), (resource_group or "").lower()
        return sorted(
            (vm for (s, g, _), vm in self.vms.items() if s == sub and (not rg or g == rg)),
            key=lambda vm: (vm.resource_group.lower(), vm.name.lower()),
        )

    def delete_vm(self, vm: VirtualMachine) -> None:
        self.vms.pop(_key(vm.subscription_id, vm.resource_group, vm.name), None)
        self._by_vm_id.pop(vm.id.lower(), None)

    def _require_idle(self, vm: VirtualMachine, operation: str) -> None:
        now = self._sb.clock.now()
        if vm.busy_until is not None and vm.busy_until > now:
            raise errors.vm_busy(operation, vm.name)

    def _require_running(self, vm: VirtualMachine) -> None:
        if not vm.running:
            raise errors.vm_not_running()

    def _busy(self, vm: VirtualMachine, seconds: float) -> None:
        vm.busy_until = self._sb.clock.now() + timedelta(seconds=seconds)

    def refresh_provisioning(self, vm: VirtualMachine) -> None:
        """A VM update re-evaluates provisioning: it stays Failed only while an extension is Failed."""
        failed = [e for e in vm.extensions.values() if e.failed]
        if failed:
            vm.provisioning_state = "Failed"
            vm.provisioning_error = "VMExtensionProvisioningError"
            vm.provisioning_message = (
                f"VM has reported a failure when processing extension '{failed[0].name}'. "
                f"Error message: \"{failed[0].status_message or 'Enable failed.'}\""
            )
        elif vm.provisioning_error == "VMExtensionProvisioningError":
            vm.provisioning_state, vm.provisioning_error, vm.provisioning_message = "Succeeded", None, None

    def restart(self, vm: VirtualMachine) -> Operation:
        self._require_idle(vm, "Restart VM")
        self._require_running(vm)
        seconds = self._sb.config.vm_action_seconds
        self._busy(vm, seconds)

        def done(op: Operation) -> None:
            vm.power_state = "running"
            if not vm.agent.ready and vm.agent.revived_by_restart:
                vm.agent = AgentState()
            return None

        return self._sb.operations.begin(seconds, done)

    def start(self, vm: VirtualMachine) -> Operation:
        self._require_idle(vm, "Start VM")
        seconds = self._sb.config.vm_action_seconds
        self._busy(vm, seconds)
        vm.power_state = "starting"

        def done(op: Operation) -> None:
            vm.power_state = "running"
            if not vm.agent.status or vm.agent.revived_by_restart:
                vm.agent = AgentState(version=vm.agent.version if vm.agent.version != "Unknown"
                                      else AgentState().version)
            return None

        return self._sb.operations.begin(seconds, done)

    def reapply(self, vm: VirtualMachine) -> Operation:
        self._require_idle(vm, "Reapply VM")
        seconds = self._sb.config.vm_action_seconds
        self._busy(vm, seconds)

        def done(op: Operation) -> None:
            # Reapply clears a platform-side provisioning failure; a failed extension keeps the VM Failed.
            if vm.provisioning_error != "VMExtensionProvisioningError":
                vm.provisioning_state, vm.provisioning_error, vm.provisioning_message = "Succeeded", None, None
            self.refresh_provisioning(vm)
            return None

        return self._sb.operations.begin(seconds, done)

    def run_command(self, vm: VirtualMachine, command_id: str, script: list[str]) -> Operation:
        self._require_idle(vm, "Run Command")
        self._require_running(vm)
        seconds = self._sb.config.run_command_seconds
        self._busy(vm, seconds)

        def done(op: Operation) -> dict[str, Any]:
            if not vm.agent.ready:
                raise errors.run_command_agent_not_responding()
            return {"output": {"value": run_command_output(vm, command_id, script)}}

        return self._sb.operations.begin(seconds, done)

    # ---- extensions -------------------------------------------------------------------------
    def install_extension(self, vm: VirtualMachine, extension: Extension) -> Extension:
        vm.extensions[extension.name.lower()] = extension
        self.refresh_provisioning(vm)
        return extension

    def get_extension(self, vm: VirtualMachine, name: str) -> Extension:
        ext = vm.extensions.get(name.lower())
        if ext is None:
            raise errors.entity_not_found()
        return ext

    def delete_extension(self, vm: VirtualMachine, name: str) -> Operation | None:
        """Start deleting; None when there is nothing to delete (the API then answers 204)."""
        ext = vm.extensions.get(name.lower())
        if ext is None:
            return None
        self._require_idle(vm, "Delete VM extension")
        ext.provisioning_state = "Deleting"
        seconds = self._sb.config.extension_delete_seconds
        self._busy(vm, seconds)

        def done(op: Operation) -> None:
            vm.extensions.pop(name.lower(), None)
            self.refresh_provisioning(vm)
            return None

        def failed() -> None:
            ext.provisioning_state = "Failed"  # a failed delete leaves the extension Failed, not Deleting
            self.refresh_provisioning(vm)

        return self._sb.operations.begin(seconds, done, on_forced_failure=failed)

    def put_extension(self, vm: VirtualMachine, extension: Extension) -> tuple[Extension, bool, Operation]:
        """Create or update through the API: `Creating`/`Updating` until the agent reports back; an
        unresponsive agent fails it. Returns (extension, created, operation)."""
        if not vm.running:
            raise errors.extensions_need_running_vm()
        self._require_idle(vm, "Create or Update VM extension")
        existing = vm.extensions.get(extension.name.lower())
        if existing is not None:
            extension.name = existing.name  # ARM keeps the casing the resource was created with
        extension.provisioning_state = "Updating" if existing else "Creating"
        extension.status_code, extension.status_level = "ProvisioningState/transitioning", "Info"
        vm.extensions[extension.name.lower()] = extension
        seconds = self._sb.config.vm_action_seconds
        self._busy(vm, seconds)

        def done(op: Operation) -> None:
            if not vm.agent.ready:
                extension.provisioning_state = "Failed"
                extension.status_code = "ProvisioningState/failed/VMAgentStatusCommunicationError"
                extension.status_level = "Error"
                extension.status_message = (
                    f"VM '{vm.name}' has not reported status for VM agent or extensions. Verify that the OS "
                    "is up and healthy, the VM has a running VM agent, and that it can establish outbound "
                    "connections to Azure storage.")
                self.refresh_provisioning(vm)
                raise errors.agent_not_responding(extension.status_message)
            extension.provisioning_state = "Succeeded"
            extension.status_code, extension.status_level = "ProvisioningState/succeeded", "Info"
            extension.status_message = extension.status_message or "Enable succeeded"
            self.refresh_provisioning(vm)
            return None

        return extension, existing is None, self._sb.operations.begin(seconds, done)

    # ---- restore point collections ----------------------------------------------------------
    def put_collection(self, subscription_id: str, resource_group: str, name: str, location: str,
                       source_id: str, tags: dict[str, str] | None) -> tuple[RestorePointCollection, bool]:
        """Create (True) or update the tags of (False) a collection; the source cannot change."""
        rpc = self.find_collection(subscription_id, resource_group, name)
        if rpc is not None:
            if source_id and rpc.source_id.lower() != source_id.lower():
                raise errors.property_change_not_allowed("source.id")
            if tags is not None:
                rpc.tags = dict(tags)
            return rpc, False
        if not source_id:
            raise errors.missing_parameter("source.id")
        rpc = RestorePointCollection(subscription_id, resource_group, name, location, source_id,
                                     self._sb.new_guid(), tags=dict(tags or {}))
        return self.add_collection(rpc), True

    def delete_restore_point(self, rpc: RestorePointCollection, name: str) -> Operation | None:
        """Start deleting one restore point; None when it does not exist (the API then answers 204)."""
        point = next((p for p in rpc.points if p.name.lower() == name.lower()), None)
        if point is None:
            return None
        point.provisioning_state = "Deleting"

        def done(op: Operation) -> None:
            if point in rpc.points:
                rpc.points.remove(point)
            return None

        return self._sb.operations.begin(self._sb.config.rpc_delete_seconds, done)

    def add_collection(self, rpc: RestorePointCollection) -> RestorePointCollection:
        self._sb.resources.require_group(rpc.subscription_id, rpc.resource_group)
        key = _key(rpc.subscription_id, rpc.resource_group, rpc.name)
        self.collections[key] = rpc
        self._by_source.setdefault(rpc.source_id.lower(), {})[key] = rpc
        return rpc

    def _forget_collection(self, rpc: RestorePointCollection) -> None:
        key = _key(rpc.subscription_id, rpc.resource_group, rpc.name)
        self.collections.pop(key, None)
        self._by_source.get(rpc.source_id.lower(), {}).pop(key, None)

    def find_collection(self, subscription_id: str, resource_group: str, name: str) -> RestorePointCollection | None:
        return self.collections.get(_key(subscription_id, resource_group, name))

    def get_collection(self, subscription_id: str, resource_group: str, name: str) -> RestorePointCollection:
        rpc = self.find_collection(subscription_id, resource_group, name)
        if rpc is None:
            raise errors.resource_not_found(RPC_TYPE, name, resource_group)
        return rpc

    def list_collections(self, subscription_id: str, resource_group: str | None = None) -> list[RestorePointCollection]:
        sub, rg = subscription_id.lower(), (resource_group or "").lower()
        return sorted(
            (c for (s, g, _), c in self.collections.items() if s == sub and (not rg or g == rg)),
            key=lambda c: (c.resource_group.lower(), c.name.lower()),
        )

    def collections_for_vm(self, vm_id: str) -> list[RestorePointCollection]:
        # Indexed by source: the backup engine asks this for every job, across fleets of 10,000 VMs.
        return list(self._by_source.get(vm_id.rstrip("/").lower(), {}).values())

    def delete_collection(self, rpc: RestorePointCollection) -> Operation:
        """Each attempt removes up to `rpc_delete_batch` points; if any remain the attempt times out,
        so a large collection needs retries (the guide's 'retry up to 3 times')."""
        if rpc.provisioning_state == "Deleting":
            raise errors.collection_already_deleting(rpc.name)
        rpc.provisioning_state = "Deleting"
        config = self._sb.config
        batch = max(1, config.rpc_delete_batch)
        seconds = config.rpc_delete_seconds * max(1, min(len(rpc.points), batch) / 10)

        def done(op: Operation) -> None:
            del rpc.points[:batch]
            if rpc.points:
                rpc.provisioning_state = "Succeeded"
                raise errors.collection_delete_timed_out(rpc.name, len(rpc.points))
            self._forget_collection(rpc)
            return None

        def failed() -> None:
            rpc.provisioning_state = "Succeeded"  # as after a timed-out attempt: deletable again

        return self._sb.operations.begin(seconds, done, on_forced_failure=failed)

    # ---- views ------------------------------------------------------------------------------
    def count_call(self, subscription_id: str, policy: str) -> tuple[int, int]:
        """Record one call of a Compute throttling policy; calls in the last 3 and 30 minutes, this one included."""
        now = self._sb.clock.now()
        short, long_ = self._calls.setdefault((subscription_id.lower(), policy), (deque(), deque()))
        for window, span in ((short, timedelta(minutes=3)), (long_, timedelta(minutes=30))):
            window.append(now)
            while now - window[0] >= span:
                window.popleft()
        return len(short), len(long_)

    def generic_resources(self, subscription_id: str, resource_group: str | None) -> list[dict[str, Any]]:
        out = [{"id": vm.id, "name": vm.name, "type": VM_TYPE, "location": vm.location, "tags": vm.tags}
               for vm in self.list_vms(subscription_id, resource_group)]
        for vm in self.list_vms(subscription_id, resource_group):
            for ext in vm.extensions.values():
                out.append({"id": f"{vm.id}/extensions/{ext.name}", "name": f"{vm.name}/{ext.name}",
                            "type": f"{VM_TYPE}/extensions", "location": vm.location})
        out += [{"id": c.id, "name": c.name, "type": RPC_TYPE, "location": c.location, "tags": c.tags}
                for c in self.list_collections(subscription_id, resource_group)]
        return out

    def to_dict(self) -> dict[str, Any]:
        vms = []
        for vm in sorted(self.vms.values(), key=lambda v: v.id.lower()):
            vms.append({
                "id": vm.id, "location": vm.location, "osType": vm.os_type, "vmId": vm.vm_id,
                "provisioningState": vm.provisioning_state, "provisioningError": vm.provisioning_error,
                "powerState": vm.power_state,
                "agent": {"status": vm.agent.status, "version": vm.agent.version},
                "disks": {"os": vm.os_disk_size_gb, "data": [d.size_gb for d in vm.data_disks]},
                "encrypted": vm.encrypted,
                "extensions": [
                    {"name": e.name, "publisher": e.publisher, "type": e.type,
                     "typeHandlerVersion": e.type_handler_version, "provisioningState": e.provisioning_state}
                    for e in sorted(vm.extensions.values(), key=lambda e: e.name.lower())
                ],
            })
        collections = [
            {"id": c.id, "location": c.location, "sourceId": c.source_id, "provisioningState": c.provisioning_state,
             "restorePoints": [p.name for p in c.points]}
            for c in sorted(self.collections.values(), key=lambda c: c.id.lower())
        ]
        return {"virtualMachines": vms, "restorePointCollections": collections}


def run_command_output(vm: VirtualMachine, command_id: str, script: list[str]) -> list[dict[str, Any]]:
    """What the run command reports: Linux one combined status, Windows StdOut and StdErr entries."""
    stdout = "\n".join(f"[sandbox] would run: {line}" for line in script) or "[sandbox] no script"
    if command_id.lower().startswith("runshell"):
        return [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                 "message": f"Enable succeeded: \n[stdout]\n{stdout}\n\n[stderr]\n"}]
    return [
        {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
         "message": stdout},
        {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
         "message": ""},
    ]
