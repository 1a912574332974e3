"""Thresholds the checks use; defaults are the guides' numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from ..models.limits import MAX_DISK_GB, MAX_ENCRYPTED_DISK_GB

__all__ = ["DEFAULT_OPTIONS", "CheckOptions"]


def _default_agent_minimums() -> Mapping[str, str]:
    # Background knowledge, not from the seeds: Windows guest agent 2.7.41491.x and
    # WALinuxAgent 2.2.10 are the oldest versions extensions are supported on.
    # Older agents get a warning; keep this configurable.
    return MappingProxyType({"windows": "2.7.41491.0", "linux": "2.2.10"})


@dataclass(frozen=True, slots=True)
class CheckOptions:
    restore_point_limit: int = 18  # instant restore points per VM across collections (guide 000)
    max_disk_gb: int = MAX_DISK_GB  # "disk sizes > 32 TB" (models/limits.py)
    max_encrypted_disk_gb: int = MAX_ENCRYPTED_DISK_GB  # "encrypted disks > 4 TB"
    stuck_job_after: timedelta = timedelta(hours=24)  # an in-progress job older than this is stuck
    long_backup_after: timedelta = timedelta(hours=12)  # guide 001: "if your backup takes more than 12 hours"
    min_agent_versions: Mapping[str, str] = field(default_factory=_default_agent_minimums)


DEFAULT_OPTIONS = CheckOptions()
