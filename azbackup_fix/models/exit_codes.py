"""The exit-code table (DESIGN.md section 7 plus issue 18): one source for RunReport.exit_code, the CLI,
its --help, the runbook and the README's table (a test compares them)."""

from __future__ import annotations

__all__ = [
    "ACTION_NEEDED", "AUTHENTICATION", "BAD_INPUT", "CHANGES_PLANNED", "EXIT_CODES", "FAILURE", "OK", "PERMISSION",
    "REPORT_ONLY", "worst",
]

OK = 0  # nothing to do, or everything fixed and verified
FAILURE = 1  # a step or an ARM call failed, a wait timed out, or a fix was not verified
BAD_INPUT = 2  # malformed id, unknown VM / vault / subscription / playbook, invalid file
PERMISSION = 3  # missing RBAC permission, or a fix needs a guard rail that was not given
CHANGES_PLANNED = 4  # dry-run: changes would be made
REPORT_ONLY = 5  # the backup fails for a cause nothing can change from the Azure side (or not now)
AUTHENTICATION = 6  # no token or no trusted TLS connection: nothing was read
# diagnose: problems were found and a fix is planned but not applied ("action needed").
ACTION_NEEDED = CHANGES_PLANNED

EXIT_CODES: dict[int, str] = {
    OK: "nothing to do, or everything fixed and verified",
    FAILURE: "a step or an ARM call failed, a wait timed out, or a fix was not verified",
    BAD_INPUT: "bad input: malformed id, unknown VM / vault / subscription / playbook, invalid YAML or role file",
    PERMISSION: "missing permission (incl. --check-permissions), or a fix needs a guard rail not given (named)",
    CHANGES_PLANNED: "changes planned (plan), problems found (diagnose)",
    REPORT_ONLY: "report-only: backups fail for a cause no Azure-side change here fixes (e.g. a disk over 32 TB)",
    AUTHENTICATION: "authentication or TLS failure: no token, or the endpoint's certificate is not trusted",
}

# Which code wins when several VMs end differently: the one that says most about what to do next.
_PRIORITY = (AUTHENTICATION, FAILURE, PERMISSION, BAD_INPUT, REPORT_ONLY, CHANGES_PLANNED)


def worst(codes: object) -> int:
    """The exit code of a batch: the highest-priority code present, else OK."""
    present = set(codes)  # type: ignore[call-overload]
    return next((c for c in _PRIORITY if c in present), OK)
