"""Imports the built-in playbook modules so that they register themselves."""

from . import (
    extension,
    extension_clean,
    failed_extension,
    guest,
    inspection,
    jobs,
    keyvault,
    network,
    protection,
    restore_points,
    vm,
    vm_state,
)

__all__ = ["extension", "extension_clean", "failed_extension", "guest", "inspection", "jobs", "keyvault", "network", "protection",
           "restore_points", "vm", "vm_state"]
