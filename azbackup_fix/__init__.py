"""azbackup-fix: repair Azure VM Backup failures from the Azure side.

The public API is re-exported here; until the entry points land, import the
domain modules directly (``azbackup_fix.ids``, ``azbackup_fix.models``,
``azbackup_fix.checks``, ``azbackup_fix.errors``).
"""

__all__: list[str] = []
