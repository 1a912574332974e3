"""Imports the built-in playbook modules so that they register themselves."""

from . import extension, guest, inspection, jobs, protection, restore_points, vm

__all__ = ["extension", "guest", "inspection", "jobs", "protection", "restore_points", "vm"]
