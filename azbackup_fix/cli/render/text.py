"""Plain text, read like a doctor's note: what is wrong, the evidence, what will fix it."""

from __future__ import annotations

from collections.abc import Sequence

from ...models import Diagnosis, Finding
from .words import SEVERITY_LABEL, headline, vm_label

__all__ = ["render_text"]

_INDENT = "     "


def _finding(index: int, finding: Finding) -> list[str]:
    lines = [f"  {index}. [{SEVERITY_LABEL[finding.severity]}] {finding.code}", f"{_INDENT}{finding.title}"]
    shown = [e for e in finding.evidence if e.value is not None and e.value != ""]
    if shown:
        lines.append(f"{_INDENT}Evidence:")
        lines += [f"{_INDENT}  - {e.label}: {e.value}" for e in shown]
    if finding.playbooks:
        lines.append(f"{_INDENT}Fix: playbook {', '.join(finding.playbooks)}")
    elif finding.severity.value != "info":
        lines.append(f"{_INDENT}Fix: nothing to change from the Azure side; see the guide")
    if finding.guest_steps:
        lines.append(f"{_INDENT}Inside the VM:")
        lines += [f"{_INDENT}  - {step}" for step in finding.guest_steps]
    if finding.guide_title:
        lines.append(f"{_INDENT}Guide: {finding.guide_title}")
        lines.append(f"{_INDENT}  {finding.guide_url}")
    return lines


def _one(diagnosis: Diagnosis) -> list[str]:
    name, group = vm_label(diagnosis)
    where = f" (resource group {group})" if group else ""
    lines = [f"{name}{where}: {headline(diagnosis)}", f"  {diagnosis.target}"]
    for index, finding in enumerate(diagnosis.findings, 1):
        lines.append("")
        lines += _finding(index, finding)
    if diagnosis.playbooks:
        lines += ["", f"  What will fix it, in order: {', '.join(diagnosis.playbooks)}"]
    lines.append(f"  ({diagnosis.request_count} ARM requests, read-only)")
    return lines


def render_text(diagnoses: Sequence[Diagnosis]) -> str:
    blocks = ["\n".join(_one(d)) for d in diagnoses]
    if len(diagnoses) > 1:
        sick = sum(1 for d in diagnoses if d.errors)
        total = sum(d.request_count for d in diagnoses)
        blocks.append(
            f"{len(diagnoses)} VMs diagnosed: {sick} need action, {len(diagnoses) - sick} without problems "
            f"({total} ARM requests)"
        )
    return "\n\n".join(blocks)
