"""Resource providers of the sandbox, moto-style: `models.py` holds state and rules, `routes.py` parses
the wire and serialises; routes keep no state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.router import Router
    from ..core.sandbox import Sandbox

__all__ = ["register_all", "new_backends"]


def register_all(router: Router) -> None:
    from .authorization import routes as authorization_routes
    from .automation import routes as automation_routes
    from .backup import routes as backup_routes
    from .compute import routes as compute_routes
    from .disks import routes as disk_routes
    from .keyvault import routes as keyvault_routes
    from .locks import routes as lock_routes
    from .metadata import routes as metadata_routes
    from .network import routes as network_routes
    from .policy import routes as policy_routes
    from .resourcegraph import routes as resourcegraph_routes
    from .resources import routes as resource_routes

    # Order matters only where templates overlap: specific lock scopes before the generic `{scope*}` one.
    for module in (metadata_routes, resource_routes, compute_routes, backup_routes, network_routes, lock_routes,
                   resourcegraph_routes, policy_routes, disk_routes, keyvault_routes, authorization_routes,
                   automation_routes):
        module.register(router)


def new_backends(sandbox: Sandbox) -> dict[str, Any]:
    from .authorization.models import AuthorizationBackend
    from .automation.models import AutomationBackend
    from .backup.models import BackupBackend
    from .compute.models import ComputeBackend
    from .disks.models import DiskBackend
    from .keyvault.models import KeyVaultBackend
    from .locks.models import LockBackend
    from .network.models import NetworkBackend
    from .policy.models import PolicyBackend
    from .resources.models import ResourceBackend

    return {
        "resources": ResourceBackend(sandbox),
        "locks": LockBackend(sandbox),
        "compute": ComputeBackend(sandbox),
        "backup": BackupBackend(sandbox),
        "policy": PolicyBackend(sandbox),
        "disks": DiskBackend(sandbox),
        "keyvault": KeyVaultBackend(sandbox),
        "authorization": AuthorizationBackend(sandbox),
        "network": NetworkBackend(sandbox),
        "automation": AutomationBackend(sandbox),
    }
