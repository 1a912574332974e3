"""Shared wording for the human renderers."""

from __future__ import annotations

from ...errors import InvalidResourceIdError
from ...ids import VmRef
from ...models import Diagnosis, Severity

__all__ = ["SEVERITY_LABEL", "headline", "vm_label"]

SEVERITY_LABEL = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "info"}


def vm_label(diagnosis: Diagnosis) -> tuple[str, str]:
    """(name, resource group) of the target, or (target, '') when it is not a VM id."""
    try:
        ref = VmRef.parse(diagnosis.target)
    except InvalidResourceIdError:
        return diagnosis.target, ""
    return ref.name, ref.resource_group


def headline(diagnosis: Diagnosis) -> str:
    counts = diagnosis.summary()
    errors, warnings = counts["error"], counts["warning"]
    if not errors and not warnings:
        return "healthy: nothing wrong with its backup"
    parts = []
    if errors:
        parts.append(f"{errors} problem{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return " and ".join(parts) + " found"
