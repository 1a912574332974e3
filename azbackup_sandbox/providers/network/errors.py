"""Every ARM error Microsoft.Network raises in the sandbox, one factory per code."""

from __future__ import annotations

from ...core.errors import ArmError, bad_request

__all__ = ["not_found", "rule_conflict", "invalid_priority", "invalid_value", "not_running", "in_use",
           "unsupported_api_version", "invalid_reference"]


def not_found(kind: str, name: str, group: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The Resource 'Microsoft.Network/{kind}/{name}' under resource group '{group}' was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    headers={"x-ms-failure-cause": "gateway"})


def child_not_found(kind: str, name: str) -> ArmError:
    return ArmError(404, "NotFound", f"Resource {kind} '{name}' not found.")


def rule_conflict(rule: str, other: str) -> ArmError:
    return bad_request(f"Security rule {rule} conflicts with rule {other}. Rules cannot have the same Priority "
                       "and Direction. To learn more, see aka.ms/nsgrules.", "SecurityRuleConflict")


def invalid_priority(rule: str, priority: object) -> ArmError:
    return bad_request(f"Security rule {rule} has invalid Priority {priority}. Value provided: {priority} "
                       "Allowed range 100-4096.", "SecurityRuleInvalidPriority")


def invalid_value(what: str, value: object, allowed: str) -> ArmError:
    return bad_request(f"The value '{value}' of {what} is not valid. Allowed values: {allowed}.",
                       "InvalidRequestFormat")


def invalid_reference(what: str, ref: str) -> ArmError:
    return bad_request(f"{what} '{ref}' was not found.", "InvalidResourceReference")


def not_running(nic: str) -> ArmError:
    # [K] the wording; the rule (effective rules and routes only for a NIC on a running VM) is documented.
    return bad_request(f"Network interface '{nic}' is not attached to a running virtual machine. Effective "
                       "security rules and routes are available only while the VM is running.",
                       "NetworkInterfaceNotAttachedToRunningVm")


def in_use(kind: str, name: str, user: str) -> ArmError:
    return bad_request(f"{kind} {name} is in use by {user} and cannot be deleted.", "InUseResourceCannotBeDeleted")


def unsupported_api_version(version: str, resource_type: str, location: str, supported: str) -> ArmError:
    return bad_request(f"No registered resource provider found for location '{location}' and API version "
                       f"'{version}' for type '{resource_type}'. The supported api-versions are '{supported}'.",
                       "NoRegisteredProviderFound")
