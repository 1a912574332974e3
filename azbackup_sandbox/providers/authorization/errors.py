"""Every ARM error Microsoft.Authorization role assignments and definitions raise in the sandbox."""

from __future__ import annotations

from ...core.errors import ArmError

__all__ = ["assignment_exists", "assignment_not_found", "invalid_filter", "invalid_name", "role_not_found",
           "update_not_permitted", "missing_property"]


def invalid_name(name: str) -> ArmError:
    return ArmError(400, "InvalidRoleAssignmentId",
                    f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.")


def missing_property(name: str) -> ArmError:
    return ArmError(400, "InvalidRoleAssignmentRequest" if name != "roleDefinitionId" else "InvalidRoleDefinitionId",
                    f"The request is missing the required property '{name}'.")


def role_not_found(role: str) -> ArmError:
    return ArmError(400, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{role}' does not exist.")


def assignment_exists() -> ArmError:
    return ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")


def update_not_permitted() -> ArmError:
    return ArmError(400, "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")


def assignment_not_found(name: str) -> ArmError:
    return ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")


def role_definition_not_found(name: str) -> ArmError:
    return ArmError(404, "RoleDefinitionDoesNotExist", f"The role definition '{name}' does not exist.")


def invalid_filter(text: str) -> ArmError:
    return ArmError(400, "UnsupportedQuery", f"The filter '{text}' is not supported.")
