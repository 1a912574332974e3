"""Imports the built-in playbook modules so that they register themselves."""

from . import extension, inspection, jobs, network, protection, restore_points, vm

__all__ = ["extension", "inspection", "jobs", "network", "protection", "restore_points", "vm"]
