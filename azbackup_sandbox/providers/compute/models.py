"""Virtual machines, their extensions and restore point collections, with the rules that matter to
backup: extension deletion passes through `Deleting`, a failed extension fails the VM's provisioning,
restarts revive an unresponsive agent, and a large collection delete times out before it finishes.

Each model serialises itself as the Compute RP writes it (`to_arm`, built from the wire-format helpers
at the end of this module); `ComputeBackend` makes every state change."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.grouped import GroupedDict
from ...core.operations import Operation
from ...core.timefmt import arm_time
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
EXT_TYPE = f"{VM_TYPE}/extensions"
RP_TYPE = f"{RPC_TYPE}/restorePoints"
# A per-region partition hint the RP puts in its operation URLs (`p=`), also seeding disk restore point ids.
PARTITION_NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def backup_extension_type(os_type: str) -> str:
    return "VMSnapshotLinux" if os_type.lower() == "linux" else "VMSnapshot"


@dataclass
class AgentState:
    status: str = "Ready"  # "Ready" | "Not Ready" | "" (no agent reported, e.g. deallocated)
    version: str = "2.7.41491.1102"
    message: str = "GuestAgent is running and accepting new configurations."
    revived_by_restart: bool = True  # an unresponsive agent that a restart brings back
    revived_by_redeploy: bool = False  # one that only a new host brings back (a redeploy also reboots)

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
    force_update_tag: str | None = None
    # The extension's own cause (its handler, its settings, the guest) survives a re-run: it fails again.
    cause_persists: bool = False

    @property
    def is_backup(self) -> bool:
        return self.publisher.lower() == BACKUP_PUBLISHER.lower() and self.type.lower() in (
            "vmsnapshot",
            "vmsnapshotlinux",
        )

    @property
    def failed(self) -> bool:
        return self.provisioning_state.lower() == "failed"

    def to_arm(self, vm: VirtualMachine, *, instance_view: bool = False) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "autoUpgradeMinorVersion": self.auto_upgrade_minor_version,
            "provisioningState": self.provisioning_state,
            "publisher": self.publisher,
            "type": self.type,
            "typeHandlerVersion": self.type_handler_version,
        }
        if self.force_update_tag is not None:
            properties["forceUpdateTag"] = self.force_update_tag
        if self.settings:
            properties["settings"] = dict(self.settings)
        # protectedSettings are write-only: never returned.
        if instance_view:
            properties["instanceView"] = _extension_instance_view(self)
        return {"name": self.name, "id": f"{vm.id}/extensions/{self.name}", "type": EXT_TYPE, "location": vm.location,
                "properties": properties}


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
    encrypted: bool = False  # Azure Disk Encryption enabled
    key_vault_url: str | None = None
    key_vault_id: str | None = None  # the vault's resource id (default: named by the URL, in the VM's group)
    key_encryption_key: bool = False  # a KEK wraps the BEK (keys as well as secrets needed to back it up)
    single_pass: bool = False  # single-pass ADE: settings only on the disk resources, not in the VM model
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
    zones: list[str] = field(default_factory=list)  # availability zones ("1", "2", "3"); none: regional
    provision_vm_agent: bool = True  # osProfile.*Configuration.provisionVMAgent
    busy_until: datetime | None = None  # an in-flight VM operation (409 for a conflicting one)
    host: int = 0  # which physical host it runs on; a redeploy moves it (platform update/fault domain)
    nic_ids: list[str] = field(default_factory=list)  # networkProfile.networkInterfaces, primary first
    guest: Any = None  # GuestModel (guest.py): what runs inside; None until an estate or a Run Command needs it
    agent_held_by_guest: bool = False  # the agent is Not Ready because of the guest (firewall, service)
    boot_diagnostics_storage_uri: str | None = None  # custom storage account; None: managed boot diagnostics

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{VM_TYPE}/{self.name}")

    @property
    def running(self) -> bool:
        return self.power_state == "running"

    @property
    def guest_consistency(self) -> str:
        """The consistencyMode of a point taken while the agent can freeze the guest: VSS on Windows,
        fsfreeze on Linux. A VM that is not running only gets CrashConsistent points."""
        return "ApplicationConsistent" if self.os_type.lower() == "windows" else "FileSystemConsistent"

    def sorted_extensions(self) -> list[Extension]:
        return sorted(self.extensions.values(), key=lambda e: e.name.lower())

    def backup_extension(self) -> Extension | None:
        return next((e for e in self.extensions.values() if e.is_backup), None)

    def to_arm(self, sb: Sandbox, *, instance_view: bool = False, resources: bool = True) -> dict[str, Any]:
        vm = self
        properties: dict[str, Any] = {
            "vmId": vm.vm_id,
            "hardwareProfile": {"vmSize": vm.vm_size},
            "storageProfile": _storage_profile(vm),
            "osProfile": _os_profile(vm),
            "networkProfile": {"networkInterfaces": [
                {"id": nic, "properties": {"primary": index == 0}} for index, nic in enumerate(vm.nic_ids)]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True, **(
                {"storageUri": vm.boot_diagnostics_storage_uri} if vm.boot_diagnostics_storage_uri else {})}},
            "provisioningState": _vm_provisioning_state(sb, vm),
        }
        if vm.time_created is not None:
            properties["timeCreated"] = arm_time(vm.time_created)
        body: dict[str, Any] = {"name": vm.name, "id": vm.id, "type": VM_TYPE, "location": vm.location}
        if vm.tags:
            body["tags"] = dict(vm.tags)
        if vm.zones:
            body["zones"] = list(vm.zones)
        body["properties"] = properties
        if resources and vm.extensions:
            body["resources"] = [e.to_arm(vm) for e in vm.sorted_extensions()]
        body["etag"] = f'"{_etag(body)}"'
        if instance_view:
            # After the etag: the instance view is runtime state, not part of the model version.
            properties["instanceView"] = vm.instance_view_to_arm(sb)
        return body

    def instance_view_to_arm(self, sb: Sandbox) -> dict[str, Any]:
        """The VirtualMachineInstanceView: what the platform and the guest agent report about the VM."""
        vm = self
        stamp = arm_time(vm.time_created or sb.clock.now())
        reporting = vm.power_state not in ("deallocated", "deallocating") and bool(vm.agent.status)
        view: dict[str, Any] = {}
        if reporting:
            os_name, os_version = _DEFAULT_OS["linux" if _linux(vm) else "windows"]
            view.update({"computerName": vm.computer_name or vm.name[:15], "osName": vm.os_name or os_name,
                         "osVersion": vm.os_version or os_version, "vmAgent": _vm_agent(sb, vm)})
        os_disk: dict[str, Any] = {"name": _os_disk_name(vm)}
        if vm.encrypted and not vm.single_pass:
            os_disk["encryptionSettings"] = [encryption_settings(vm)]
        disks = [os_disk] + [{"name": d.name} for d in sorted(vm.data_disks, key=lambda d: d.lun)]
        for disk in disks:
            disk["statuses"] = [_status("ProvisioningState/succeeded", "Info", "Provisioning succeeded", time=stamp)]
        view["disks"] = disks
        if reporting and vm.extensions:
            view["extensions"] = [_extension_instance_view(e) for e in vm.sorted_extensions()]
        view["hyperVGeneration"] = "V2"
        if vm.power_state not in ("deallocated", "deallocating"):
            # The host's place in the datacenter; a redeploy to a new host changes it.
            view["platformUpdateDomain"], view["platformFaultDomain"] = vm.host % 5, vm.host % 3
        state = _vm_provisioning_state(sb, vm)
        if state.lower() == "failed":
            provisioning = _status(f"ProvisioningState/failed/{vm.provisioning_error or 'InternalOperationError'}",
                                   "Error", "Provisioning failed", vm.provisioning_message, stamp)
        elif state.lower() == "succeeded":
            provisioning = _status("ProvisioningState/succeeded", "Info", "Provisioning succeeded", time=stamp)
        else:
            provisioning = _status(f"ProvisioningState/{state.lower()}", "Info", state)
        power = _status(f"PowerState/{vm.power_state}", "Info", f"VM {vm.power_state}")
        view["statuses"] = [provisioning, power]
        return view


CONSISTENCY_MODES = ("CrashConsistent", "FileSystemConsistent", "ApplicationConsistent")


@dataclass
class RestorePoint:
    name: str
    time_created: datetime
    consistency_mode: str = "CrashConsistent"
    provisioning_state: str = "Succeeded"

    def to_arm(self, sb: Sandbox, rpc: RestorePointCollection, *, with_type: bool = True) -> dict[str, Any]:
        point = self
        rp_id = f"{rpc.id}/restorePoints/{point.name}"
        vm = _source_vm(sb, rpc)
        metadata: dict[str, Any] = {}
        if vm is not None:
            def disk(name: str, head: dict[str, Any], caching: str) -> dict[str, Any]:
                guid = uuid.uuid5(PARTITION_NS, f"{rp_id}/{name}".lower())
                return {**head, "name": name, "caching": caching,
                        "managedDisk": {"storageAccountType": "Premium_LRS", "id": _disk_id(vm, name)},
                        "diskRestorePoint": {"id": f"{rp_id}/diskRestorePoints/{name}_{guid}"}}

            os_disk = disk(_os_disk_name(vm), {"osType": "Linux" if _linux(vm) else "Windows"}, "ReadWrite")
            os_disk["diskSizeGB"] = vm.os_disk_size_gb
            data = []
            for d in sorted(vm.data_disks, key=lambda d: d.lun):
                entry = disk(d.name, {"lun": d.lun}, "None")
                entry["diskSizeGB"] = d.size_gb
                data.append(entry)
            metadata = {
                "vmId": vm.vm_id,
                "hardwareProfile": {"vmSize": vm.vm_size},
                "storageProfile": {"osDisk": os_disk, "dataDisks": data, "diskControllerType": "SCSI"},
                "osProfile": _os_profile(vm),
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
                "location": vm.location,
            }
        else:
            metadata = {"location": rpc.location}
        body: dict[str, Any] = {"name": point.name, "id": rp_id}
        if with_type:
            body["type"] = RP_TYPE
        body["properties"] = {
            "excludeDisks": [],
            "sourceMetadata": metadata,
            "provisioningState": point.provisioning_state,
            "consistencyMode": point.consistency_mode,
            "timeCreated": arm_time(point.time_created),
        }
        return body


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

    def to_arm(self, sb: Sandbox, *, restore_points: bool = False) -> dict[str, Any]:
        vm = _source_vm(sb, self)
        body: dict[str, Any] = {"name": self.name, "id": self.id, "type": RPC_TYPE, "location": self.location}
        if self.tags:
            body["tags"] = dict(self.tags)
        properties: dict[str, Any] = {
            "source": {"location": vm.location if vm is not None else self.location, "id": self.source_id},
            "restorePointCollectionId": self.collection_id,
            "provisioningState": self.provisioning_state,
        }
        if restore_points:
            properties["restorePoints"] = [point.to_arm(sb, self, with_type=False) for point in self.points]
        body["properties"] = properties
        return body


def _key(subscription_id: str, resource_group: str, name: str) -> tuple[str, str, str]:
    return (subscription_id.lower(), resource_group.lower(), name.lower())


class ComputeBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        # Indexed by subscription and group: lists (and the generic resource listing) read only their scope.
        self.vms: GroupedDict[VirtualMachine] = GroupedDict()
        self.collections: GroupedDict[RestorePointCollection] = GroupedDict()
        self._by_vm_id: dict[str, VirtualMachine] = {}
        self._by_source: dict[str, dict[tuple[str, str, str], RestorePointCollection]] = {}
        # Compute RP throttling windows per (subscription, policy): call times in the last 3 and 30 minutes.
        self._calls: dict[tuple[str, str], tuple[deque[datetime], deque[datetime]]] = {}
        from .runcommand import RunCommands

        self.run_commands = RunCommands(sandbox)

    # ---- virtual machines ------------------------------------------------------------------
    def add_vm(self, vm: VirtualMachine) -> VirtualMachine:
        self._sb.resources.require_group(vm.subscription_id, vm.resource_group)
        vm.computer_name = vm.computer_name or vm.name[:15]
        self.vms[_key(vm.subscription_id, vm.resource_group, vm.name)] = vm
        self._by_vm_id[vm.id.lower()] = vm
        self._sb.disks.add_for_vm(vm)
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
        return sorted(self.vms.in_scope(sub, rg), key=lambda vm: (vm.resource_group.lower(), vm.name.lower()))

    def delete_vm(self, vm: VirtualMachine) -> None:
        self.vms.pop(_key(vm.subscription_id, vm.resource_group, vm.name), None)
        self._by_vm_id.pop(vm.id.lower(), None)
        self._sb.disks.remove_for_vm(vm)  # estates delete a VM with its disks (an estate has no loose disks)

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

    def _agent_after_boot(self, vm: VirtualMachine, *, new_host: bool = False) -> AgentState:
        """The agent once the guest has booted: an installed agent that never reported (a seeded
        deallocated VM) comes up Ready; an unresponsive one only when a reboot (or, for
        `revived_by_redeploy`, a new host) brings it back; a never-installed agent stays absent."""
        agent = vm.agent
        if not agent.status:
            if not vm.provision_vm_agent:
                return agent
            return AgentState(version=agent.version if agent.version not in ("", "Unknown") else AgentState().version)
        if agent.ready or agent.revived_by_restart or (new_host and agent.revived_by_redeploy):
            version = agent.version if agent.version not in ("", "Unknown") else AgentState().version
            return AgentState(version=version)
        return agent

    def _power_operation(self, vm: VirtualMachine, operation: str, during: str, after: str,
                         seconds: float | None = None, *, new_host: bool = False) -> Operation:
        """A power operation: `during` in the instance view (and the VM Updating) until it ends on the
        virtual clock, then `after`; booting re-evaluates the agent."""
        self._require_idle(vm, operation)
        seconds = self._sb.config.vm_action_seconds if seconds is None else seconds
        self._busy(vm, seconds)
        before, vm.power_state = vm.power_state, during

        def done(op: Operation) -> None:
            vm.power_state = after
            if new_host:
                vm.host += 1
            if after == "running":
                vm.agent = self._agent_after_boot(vm, new_host=new_host)
                if vm.guest is not None:  # the guest boots with its configuration (DHCP off drops the lease)
                    vm.guest.boot()
                    _sync_guest_agent(vm)
            return None

        def failed() -> None:
            vm.power_state = before  # a failed operation leaves the VM as it found it

        return self._sb.operations.begin(seconds, done, on_forced_failure=failed)

    def restart(self, vm: VirtualMachine) -> Operation:
        self._require_idle(vm, "Restart VM")
        self._require_running(vm)
        return self._power_operation(vm, "Restart VM", "starting", "running")
        seconds = self._sb.config.vm_action_seconds
        self._busy(vm, seconds)

        def done(op: Operation) -> None:
            vm.power_state = "running"
            if not vm.agent.ready and vm.agent.revived_by_restart:
                vm.agent = AgentState()
            _sync_guest_agent(vm)  # a restart cannot revive an agent the guest itself cuts off
            return None

        return self._sb.operations.begin(seconds, done)

    def start(self, vm: VirtualMachine) -> Operation:
        return self._power_operation(vm, "Start VM", "starting", "running")

    def power_off(self, vm: VirtualMachine, *, skip_shutdown: bool = False) -> Operation:
        """Stop (`powerOff`): the VM keeps its host and is billed; skipShutdown skips the guest's
        graceful shutdown, so it is quicker."""
        seconds = self._sb.config.vm_action_seconds / (2 if skip_shutdown else 1)
        return self._power_operation(vm, "Power off VM", "stopping", "stopped", seconds)

    def deallocate(self, vm: VirtualMachine) -> Operation:
        """Stop and release the host: no agent or extension reports while deallocated."""
        return self._power_operation(vm, "Deallocate VM", "deallocating", "deallocated")

    def redeploy(self, vm: VirtualMachine) -> Operation:
        """Move the VM to a new host and boot it there (a stopped VM comes up running)."""
        return self._power_operation(vm, "Redeploy VM", "starting", "running", new_host=True)

    def begin_transition(self, vm: VirtualMachine, seconds: float) -> None:
        """A seeded VM caught mid-operation (starting, stopping, deallocating): it settles on the clock."""
        settled = {"starting": "running", "stopping": "stopped", "deallocating": "deallocated"}[vm.power_state]
        self._busy(vm, seconds)

        def done(op: Operation) -> None:
            vm.power_state = settled
            if settled == "running":
                vm.agent = self._agent_after_boot(vm)
            return None

        self._sb.operations.begin(seconds, done)

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

    def run_command(self, vm: VirtualMachine, command_id: str, script: list[str],
                    parameters: dict[str, str] | None = None) -> Operation:
        """Action Run Command (runcommand.py has Azure's rules for it)."""
        self._require_idle(vm, "Run Command")
        self._require_running(vm)
        return self.run_commands.begin_action(vm, command_id, "\n".join(script), dict(parameters or {}))

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
            if ext.is_backup and vm.guest is not None:
                vm.guest.plugin_uninstalled()  # the handler's uninstall cleans its folder, unless corrupt
            self.refresh_provisioning(vm)
            return None

        def failed() -> None:
            ext.provisioning_state = "Failed"  # a failed delete leaves the extension Failed, not Deleting
            self.refresh_provisioning(vm)

        return self._sb.operations.begin(seconds, done, on_forced_failure=failed)

    def put_extension(self, vm: VirtualMachine, extension: Extension) -> tuple[Extension, bool, Operation]:
        """Create or update through the API: `Creating`/`Updating` until the agent reports back; an
        unresponsive agent fails it. An update that changes nothing (same handler, settings and
        `forceUpdateTag`) does not run the handler again: a Failed extension stays Failed. A re-run
        fails again while the extension's own cause persists (`cause_persists`, an estate key).
        Returns (extension, created, operation)."""
        if not vm.running:
            raise errors.extensions_need_running_vm()
        self._require_idle(vm, "Create or Update VM extension")
        existing = vm.extensions.get(extension.name.lower())
        seconds = self._sb.config.vm_action_seconds
        if existing is not None:
            extension.name = existing.name  # ARM keeps the casing the resource was created with
            extension.cause_persists = existing.cause_persists  # a property of the estate, not of the request
            if _same_goal_state(existing, extension):
                return existing, False, self._sb.operations.begin(0, lambda op: _settled(vm, existing))
        previous = existing
        extension.provisioning_state = "Updating" if existing else "Creating"
        extension.status_code, extension.status_level = "ProvisioningState/transitioning", "Info"
        vm.extensions[extension.name.lower()] = extension
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
            if extension.cause_persists:
                extension.provisioning_state, extension.status_level = "Failed", "Error"
                extension.status_code = (previous.status_code if previous is not None and previous.failed
                                         else "ProvisioningState/failed/1")
                extension.status_message = (previous.status_message if previous is not None and previous.failed
                                            else "") or "Enable failed."
                self.refresh_provisioning(vm)
                raise errors.extension_provisioning_failed(extension.name, extension.status_message)
            extension.provisioning_state = "Succeeded"
            extension.status_code, extension.status_level = "ProvisioningState/succeeded", "Info"
            extension.status_message = "Enable succeeded"
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

    def create_restore_point(self, rpc: RestorePointCollection, name: str,
                             consistency_mode: str | None) -> tuple[RestorePoint, Operation]:
        """Start creating a restore point of the collection's source VM (RestorePoints_Create): the point is
        `Creating` until the operation ends. Points are immutable: an existing name is refused."""
        if any(p.name.lower() == name.lower() for p in rpc.points):
            raise errors.restore_point_exists(name)
        vm = self.vm_by_id(rpc.source_id)
        if vm is None:
            raise errors.restore_point_source_missing(rpc.source_id)
        possible = vm.guest_consistency if vm.running else "CrashConsistent"
        if consistency_mode is None:
            consistency_mode = possible
        elif consistency_mode not in CONSISTENCY_MODES:
            raise errors.invalid_consistency_mode(consistency_mode, CONSISTENCY_MODES)
        elif consistency_mode != "CrashConsistent" and consistency_mode != possible:
            raise errors.consistency_not_possible(consistency_mode, vm.name)
        point = RestorePoint(name, self._sb.clock.now(), consistency_mode, provisioning_state="Creating")
        rpc.points.append(point)

        def done(op: Operation) -> None:
            point.provisioning_state = "Succeeded"
            return None

        return point, self._sb.operations.begin(self._sb.config.restore_point_create_seconds, done)

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
        return sorted(self.collections.in_scope(sub, rg), key=lambda c: (c.resource_group.lower(), c.name.lower()))

    def collections_for_vm(self, vm_id: str) -> list[RestorePointCollection]:
        # Indexed by source: the backup engine asks this for every job, across fleets of 10,000 VMs.
        return list(self._by_source.get(vm_id.rstrip("/").lower(), {}).values())

    def delete_collection(self, rpc: RestorePointCollection) -> Operation:
        """Each attempt removes up to `rpc_delete_batch` points; if any remain the attempt times out,
        so a large collection needs retries (the guide: it "usually succeeds after two or three retries")."""
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
                **({"guest": vm.guest.to_estate()} if vm.guest is not None else {}),
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


def _sync_guest_agent(vm: VirtualMachine) -> None:
    from .runcommand import sync_agent

    sync_agent(vm)


# ---- wire format ---------------------------------------------------------------------------------
# How the Compute RP writes these resources; the models' `to_arm` methods build their bodies from these.
_DEFAULT_OS = {
    "linux": ("ubuntu", "22.04"),
    "windows": ("Windows Server 2022 Datacenter", "Microsoft Windows NT 10.0.20348.0"),
}
_IMAGES = {
    "linux": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
              "version": "latest", "exactVersion": "22.04.202410020"},
    "windows": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                "sku": "2022-datacenter-azure-edition", "version": "latest", "exactVersion": "20348.2762.241006"},
}
_READY_MESSAGE = "GuestAgent is running and accepting new configurations."
_UNRESPONSIVE = "VM Agent is unresponsive."


def _status(code: str, level: str, display: str, message: str | None = None, time: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "level": level, "displayStatus": display}
    if message:
        out["message"] = message
    if time:
        out["time"] = time
    return out


def _etag(body: dict[str, Any]) -> str:
    # A model version in the shape ARM prints ("\"838458\""): changes whenever the model changes.
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return str(int(digest[:12], 16) % 1_000_000 + 1)




def _linux(vm: VirtualMachine) -> bool:
    return vm.os_type.lower() == "linux"


def _disk_id(vm: VirtualMachine, disk_name: str) -> str:
    return (f"/subscriptions/{vm.subscription_id}/resourceGroups/{vm.resource_group}"
            f"/providers/Microsoft.Compute/disks/{disk_name}")


def _os_disk_name(vm: VirtualMachine) -> str:
    return f"{vm.name}_OsDisk_1_{vm.vm_id.replace('-', '').lower()}"


os_disk_name = _os_disk_name  # for the disks provider


def _busy(sb: Sandbox, vm: VirtualMachine) -> bool:
    return vm.busy_until is not None and vm.busy_until > sb.clock.now()


def _vm_provisioning_state(sb: Sandbox, vm: VirtualMachine) -> str:
    # While a VM operation (restart, extension change...) runs, ARM shows the VM as Updating.
    if vm.provisioning_state == "Succeeded" and _busy(sb, vm):
        return "Updating"
    return vm.provisioning_state


def key_vault_id(vm: VirtualMachine) -> str:
    """The resource id of the Key Vault holding the VM's ADE secrets (and keys)."""
    if vm.key_vault_id:
        return vm.key_vault_id
    vault = (vm.key_vault_url or f"https://kv-{vm.name[:15].lower()}.vault.azure.net/").rstrip("/") + "/"
    vault_name = vault.split("//", 1)[-1].split(".", 1)[0]
    return (f"/subscriptions/{vm.subscription_id}/resourceGroups/{vm.resource_group}"
            f"/providers/Microsoft.KeyVault/vaults/{vault_name}")


def key_vault_url(vm: VirtualMachine) -> str:
    if vm.key_vault_url:
        return vm.key_vault_url.rstrip("/") + "/"
    return f"https://{key_vault_id(vm).rsplit('/', 1)[-1].lower()}.vault.azure.net/"


def encryption_settings(vm: VirtualMachine) -> dict[str, Any]:
    """ADE's settings for the OS disk: the BEK secret and, with a KEK, the key wrapping it."""
    vault, vault_id = key_vault_url(vm), key_vault_id(vm)
    settings: dict[str, Any] = {
        "diskEncryptionKey": {
            "secretUrl": f"{vault}secrets/{vm.vm_id.upper()}/{vm.vm_id.replace('-', '')}",
            "sourceVault": {"id": vault_id},
        },
    }
    if vm.key_encryption_key:
        settings["keyEncryptionKey"] = {"keyUrl": f"{vault}keys/ade-kek/{vm.vm_id.replace('-', '')[:32]}",
                                        "sourceVault": {"id": vault_id}}
    settings["enabled"] = True
    return settings


def _storage_profile(vm: VirtualMachine) -> dict[str, Any]:
    os_disk: dict[str, Any] = {
        "osType": "Linux" if _linux(vm) else "Windows",
        "name": _os_disk_name(vm),
        "createOption": "FromImage",
        "caching": "ReadWrite",
    }
    if vm.encrypted and not vm.single_pass:
        os_disk["encryptionSettings"] = encryption_settings(vm)
    os_disk["managedDisk"] = {"storageAccountType": "Premium_LRS", "id": _disk_id(vm, _os_disk_name(vm))}
    os_disk["deleteOption"] = "Detach"
    os_disk["diskSizeGB"] = vm.os_disk_size_gb
    data_disks = [
        {"lun": d.lun, "name": d.name, "createOption": "Attach", "caching": "None",
         "managedDisk": {"storageAccountType": "Premium_LRS", "id": _disk_id(vm, d.name)},
         "deleteOption": "Detach", "diskSizeGB": d.size_gb, "toBeDetached": False}
        for d in sorted(vm.data_disks, key=lambda d: d.lun)
    ]
    return {"imageReference": dict(_IMAGES["linux" if _linux(vm) else "windows"]), "osDisk": os_disk,
            "dataDisks": data_disks, "diskControllerType": "SCSI"}


def _os_profile(vm: VirtualMachine) -> dict[str, Any]:
    profile: dict[str, Any] = {"computerName": vm.computer_name or vm.name[:15], "adminUsername": "azureuser"}
    if _linux(vm):
        profile["linuxConfiguration"] = {
            "disablePasswordAuthentication": True,
            "provisionVMAgent": vm.provision_vm_agent,
            "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
        }
    else:
        profile["windowsConfiguration"] = {
            "provisionVMAgent": vm.provision_vm_agent,
            "enableAutomaticUpdates": True,
            "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault",
                              "enableHotpatching": False},
        }
    profile.update({"secrets": [], "allowExtensionOperations": True, "requireGuestProvisionSignal": True})
    return profile


def _display(code: str) -> str:
    lowered = code.lower()
    if lowered.startswith("provisioningstate/succeeded"):
        return "Provisioning succeeded"
    if lowered.startswith("provisioningstate/failed"):
        return "Provisioning failed"
    if lowered.startswith("provisioningstate/transitioning"):
        return "Transitioning"
    return code.rsplit("/", 1)[-1].capitalize()


def _extension_instance_view(ext: Extension) -> dict[str, Any]:
    return {
        "name": ext.name,
        "type": f"{ext.publisher}.{ext.type}",  # publisher-qualified in instance views
        "typeHandlerVersion": ext.type_handler_version,
        "statuses": [_status(ext.status_code, ext.status_level, _display(ext.status_code), ext.status_message)],
    }


def _handler(ext: Extension) -> dict[str, Any]:
    if ext.failed:
        status = _status(ext.status_code, "Error", "Not Ready", ext.status_message)
    else:
        status = _status("ProvisioningState/succeeded", "Info", "Ready")
    return {"type": f"{ext.publisher}.{ext.type}", "typeHandlerVersion": ext.type_handler_version, "status": status}


def _vm_agent(sb: Sandbox, vm: VirtualMachine) -> dict[str, Any]:
    now = arm_time(sb.clock.now())
    if vm.agent.ready:
        return {
            "vmAgentVersion": vm.agent.version,
            "statuses": [_status("ProvisioningState/succeeded", "Info", "Ready",
                                 vm.agent.message or _READY_MESSAGE, now)],
            "extensionHandlers": [_handler(e) for e in vm.sorted_extensions()],
        }
    message = vm.agent.message if vm.agent.message and vm.agent.message != _READY_MESSAGE else _UNRESPONSIVE
    return {
        "vmAgentVersion": "Unknown",
        "statuses": [_status("ProvisioningState/Unavailable", "Warning", "Not Ready", message, now)],
    }


def _same_goal_state(current: Extension, wanted: Extension) -> bool:
    """Whether an update changes nothing the guest agent would act on."""
    return (current.publisher.lower(), current.type.lower(), current.type_handler_version, current.settings,
            current.protected_settings, current.force_update_tag) == (
        wanted.publisher.lower(), wanted.type.lower(), wanted.type_handler_version, wanted.settings,
        wanted.protected_settings, wanted.force_update_tag)


def _settled(vm: VirtualMachine, ext: Extension) -> None:
    """The answer to an update that re-ran nothing: the extension's state as it is."""
    if ext.failed:
        raise errors.extension_provisioning_failed(ext.name, ext.status_message or "Enable failed.")
    return None


def _source_vm(sb: Sandbox, rpc: RestorePointCollection) -> VirtualMachine | None:
    return sb.compute.vm_by_id(rpc.source_id)
