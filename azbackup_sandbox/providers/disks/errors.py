"""Every ARM error Microsoft.Compute/disks raises in the sandbox, one factory per code."""

from __future__ import annotations

from ...core.errors import ArmError

__all__ = ["disk_not_found", "invalid_parameter", "property_change_not_allowed"]


def disk_not_found(name: str, resource_group: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The Resource 'Microsoft.Compute/disks/{name}' under resource group '{resource_group}' was not "
                    "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    headers={"x-ms-failure-cause": "gateway"})


def invalid_parameter(message: str, target: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def property_change_not_allowed(name: str) -> ArmError:
    return ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{name}' is not allowed.", target=name)
