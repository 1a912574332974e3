"""Every ARM error Microsoft.KeyVault/vaults raises in the sandbox, one factory per code."""

from __future__ import annotations

from ...core.errors import ArmError

__all__ = ["bad_parameter", "invalid_operation_kind", "vault_not_found"]


def vault_not_found(name: str, resource_group: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The Resource 'Microsoft.KeyVault/vaults/{name}' under resource group '{resource_group}' was "
                    "not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    headers={"x-ms-failure-cause": "gateway"})


def bad_parameter(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def invalid_operation_kind(kind: str) -> ArmError:
    return ArmError(400, "BadRequest",
                    f"The access policy operation '{kind}' is not valid. Valid values are: add, replace, remove.")
