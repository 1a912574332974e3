"""Markdown for GitHub step summaries and pull-request comments."""

from __future__ import annotations

from collections.abc import Sequence

from ...models import Diagnosis
from .words import SEVERITY_LABEL, headline, vm_label

__all__ = ["render_markdown"]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _link_text(value: str) -> str:
    return _cell(value).replace("[", "\\[").replace("]", "\\]")


def _one(diagnosis: Diagnosis) -> list[str]:
    name, group = vm_label(diagnosis)
    lines = [f"### {_cell(name)}", "", f"`{diagnosis.target}` — {headline(diagnosis)}", ""]
    if diagnosis.findings:
        lines += ["| Severity | Code | Finding | Fix |", "|---|---|---|---|"]
        for f in diagnosis.findings:
            fix = ", ".join(f"`{p}`" for p in f.playbooks) or "—"
            lines.append(f"| {SEVERITY_LABEL[f.severity]} | `{f.code}` | {_cell(f.title)} | {fix} |")
        lines.append("")
        for f in diagnosis.findings:
            shown = [e for e in f.evidence if e.value is not None and e.value != ""]
            if not shown and not f.guest_steps and not f.guide_title:
                continue
            lines.append(f"<details><summary>Evidence for {_cell(f.code)}</summary>")
            lines.append("")
            lines += [f"- **{_cell(e.label)}**: `{_cell(e.value)}`" for e in shown]
            lines += [f"- inside the VM: {_cell(step)}" for step in f.guest_steps]
            if f.guide_title:
                lines.append(f"- guide: [{_link_text(f.guide_title)}]({f.guide_url})")
            lines += ["", "</details>", ""]
    lines.append(f"_{diagnosis.request_count} ARM requests, read-only._")
    return lines


def render_markdown(diagnoses: Sequence[Diagnosis]) -> str:
    lines = ["## Azure VM Backup diagnosis", ""]
    if diagnoses:
        lines += ["| VM | Resource group | Status | Playbooks |", "|---|---|---|---|"]
        for d in diagnoses:
            name, group = vm_label(d)
            fixes = ", ".join(f"`{p}`" for p in d.playbooks) or "—"
            lines.append(f"| {_cell(name)} | {_cell(group)} | {headline(d)} | {fixes} |")
        lines.append("")
    else:
        lines.append("No VM was diagnosed.")
    for d in diagnoses:
        lines += _one(d)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
