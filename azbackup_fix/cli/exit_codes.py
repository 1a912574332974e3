"""Exit codes (DESIGN.md section 7), shared by every command."""

from __future__ import annotations

__all__ = ["ACTION_NEEDED", "BAD_INPUT", "CHANGES_PLANNED", "FAILURE", "OK", "PERMISSION"]

OK = 0  # nothing to do, or all fixed
FAILURE = 1  # a step or an ARM call failed
BAD_INPUT = 2  # malformed id, unknown VM / vault / subscription, VM not protected
PERMISSION = 3  # missing RBAC permission, or a guard-rail refusal
CHANGES_PLANNED = 4  # dry-run: changes would be made
# diagnose: problems were found and a fix is planned but not applied ("action needed").
ACTION_NEEDED = CHANGES_PLANNED
