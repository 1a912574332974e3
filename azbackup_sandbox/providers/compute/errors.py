"""Every ARM error Microsoft.Compute raises in the sandbox, one factory per case.

The RP's own errors (NotFound for child resources, OperationNotAllowed, VMAgentStatusCommunicationError,
...) as recorded or documented (ARM_SEMANTICS §0.3, §6); a missing VM or collection is the gateway's
ResourceNotFound, re-exported here so the provider raises from one module."""

from __future__ import annotations

from ...core.errors import ArmError, resource_not_found

__all__ = [
    "resource_not_found",
    "entity_not_found",
    "vm_busy",
    "vm_not_running",
    "extensions_need_running_vm",
    "agent_not_responding",
    "extension_provisioning_failed",
    "run_command_agent_not_responding",
    "property_change_not_allowed",
    "missing_parameter",
    "invalid_request_content",
    "location_required",
    "collection_already_deleting",
    "collection_delete_timed_out",
]


def entity_not_found() -> ArmError:
    """Child resources served by the RP (extensions, restore points) [K]."""
    return ArmError(404, "NotFound", "The entity was not found in this Azure location.")


def vm_busy(operation: str, vm_name: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed",
                    f"Operation '{operation}' is not allowed on VM '{vm_name}' since another operation is in "
                    "progress. Retry after the ongoing operation completes.")


def vm_not_running() -> ArmError:
    return ArmError(409, "OperationNotAllowed", "The operation requires the VM to be running (or set to run).")


def extensions_need_running_vm() -> ArmError:
    return ArmError(409, "OperationNotAllowed", "Cannot modify extensions in the VM when the VM is not running.")


def agent_not_responding(message: str) -> ArmError:
    return ArmError(409, "VMAgentStatusCommunicationError", message)


def extension_provisioning_failed(name: str, message: str) -> ArmError:
    """An extension whose handler failed: the PUT's operation fails as CRP reports it [K]."""
    return ArmError(400, "VMExtensionProvisioningError",
                    f"VM has reported a failure when processing extension '{name}' (publisher and type in its "
                    f"instance view). Error message: \"{message}\"")


def run_command_agent_not_responding() -> ArmError:
    return agent_not_responding("VM has reported a failure when processing the run command: the VM agent "
                                "is not responding.")


def property_change_not_allowed(prop: str) -> ArmError:
    return ArmError(400, "PropertyChangeNotAllowed", f"Changing property '{prop}' is not allowed.", target=prop)


def missing_parameter(name: str) -> ArmError:
    return ArmError(400, "InvalidParameter", f"Required parameter '{name}' is missing (null).", target=name)


def invalid_request_content() -> ArmError:
    return ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")


def location_required() -> ArmError:
    return ArmError(400, "LocationRequired", "The location property is required for this definition.")


def collection_already_deleting(name: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed", f"The restore point collection '{name}' is already being deleted.")


def collection_delete_timed_out(name: str, remaining: int) -> ArmError:
    return ArmError(500, "OperationTimedOut",
                    f"The operation to delete restore point collection '{name}' timed out with {remaining} "
                    "restore points remaining. Please retry.")


def restore_point_exists(name: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed",
                    f"Restore point '{name}' already exists: updating properties of an existing restore point "
                    "is not allowed.")


def restore_point_source_missing(source_id: str) -> ArmError:
    return ArmError(404, "NotFound", f"The source virtual machine '{source_id}' of the restore point collection "
                    "was not found.")


def invalid_consistency_mode(mode: str, allowed: tuple[str, ...]) -> ArmError:
    return ArmError(400, "InvalidParameter", f"The value '{mode}' of consistencyMode is invalid; allowed values: "
                    f"{', '.join(allowed)}.", target="consistencyMode")


def consistency_not_possible(mode: str, vm_name: str) -> ArmError:
    # Only a running VM's agent can freeze the guest; a stopped VM gives crash-consistent points only.
    return ArmError(409, "OperationNotAllowed", f"A {mode} restore point of VM '{vm_name}' cannot be taken in its "
                    "current state; only CrashConsistent is possible.")
