"""Azure Backup's documented size limits, in one place (checks, playbooks and docs read them here).

Guide 000, UserErrorUnsupportedDiskSize: backup fails for "a disk size greater than 32 TB" and for
"encrypted disks greater than 4 TB". TB here is the portal's binary unit (GiB x 1024), so the limits
are 32 x 1024 and 4 x 1024 GiB; a disk at the limit (Azure's largest, 32,767 GiB; P50, 4,095 GiB) is
supported, one above it is not. The sandbox plays the service with the same numbers
(``azbackup_sandbox.providers.backup.physics``; a test keeps the two equal).
"""

from __future__ import annotations

__all__ = ["MAX_DISK_GB", "MAX_ENCRYPTED_DISK_GB", "disk_limit_gb"]

MAX_DISK_GB = 32 * 1024
MAX_ENCRYPTED_DISK_GB = 4 * 1024


def disk_limit_gb(encrypted: bool) -> int:
    return MAX_ENCRYPTED_DISK_GB if encrypted else MAX_DISK_GB
