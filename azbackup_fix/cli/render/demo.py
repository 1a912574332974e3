"""The demo's report: one compact block per VM (diagnosis, plan, apply, verification, next backup)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...models import Diagnosis, RunReport, StepStatus

__all__ = ["DEMO_SCHEMA", "DemoVm", "demo_exit_code", "render_demo"]

DEMO_SCHEMA = "azbackup-fix/demo/v1"
_WIDTH = 100
_LABEL = 12  # column where a block's text starts


@dataclass(frozen=True, slots=True)
class DemoVm:
    """One VM's way through the demo."""

    name: str
    before: Diagnosis
    plan: RunReport
    applied: RunReport
    after: Diagnosis
    next_backup: RunReport

    @property
    def fixed(self) -> bool:
        verified = all(p.verified is not False for p in self.applied.playbooks)
        return verified and not self.applied.failures and self.next_ok

    @property
    def next_ok(self) -> bool:
        return bool(self.next_backup.changed) and not self.next_backup.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "vm": self.before.target,
            "fixed": self.fixed,
            "diagnosis": self.before.to_dict(),
            "plan": self.plan.to_dict(),
            "apply": self.applied.to_dict(),
            "after": self.after.to_dict(),
            "next_backup": self.next_backup.to_dict(),
        }


def demo_exit_code(vms: Sequence[DemoVm]) -> int:
    return 0 if all(vm.fixed for vm in vms) else 1


def _block(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=f"  {label:<{_LABEL - 2}}",
                         subsequent_indent=" " * (_LABEL + 2), break_on_hyphens=False,
                         break_long_words=False) or [f"  {label}"]


def _job(report: RunReport) -> str:
    for step in report.steps:
        if step.step == "trigger-backup" and step.detail_value("job_id"):
            status = step.detail_value("job_status") or step.status.value
            title = step.detail_value("error_title")
            return f"backup job {str(step.detail_value('job_id'))[:8]} {status}" + (f" ({title})" if title else "")
    return ""


def _vm_text(vm: DemoVm) -> list[str]:
    codes = [f.code for f in vm.before.errors] or ["healthy"]
    lines = [f"{vm.name}  {', '.join(codes)}"]
    findings = [f"{f.code}: {f.title}" for f in vm.before.errors]
    if vm.before.warnings:
        findings.append("warnings: " + ", ".join(f.code for f in vm.before.warnings))
    for i, text in enumerate(findings or ["no problem found"]):
        lines += _block("diagnosis" if i == 0 else "", text)
    planned = [(p.playbook, s.description) for p in vm.plan.playbooks for s in vm.plan.steps
               if s in p.steps and s.status is StepStatus.PLANNED]
    if not planned:
        lines += _block("plan", "nothing to change")
    for i, (playbook, description) in enumerate(planned):
        lines += _block("plan" if i == 0 else "", f"{playbook}: {description}")
    summary = vm.applied.summary()
    done = ", ".join(f"{v} {k}" for k, v in summary.items() if v) or "no change"
    lines += _block("apply", f"{done} ({vm.applied.request_count} ARM requests, {vm.applied.write_count} writes)")
    for step in vm.applied.steps:
        if step.status.is_failure or step.refused:
            lines += _block("", f"{step.step} {step.status.value}: {step.reason}")
    judged = [p for p in vm.applied.playbooks if p.verified is not None and p.steps]
    if judged:
        verdicts = "; ".join(f"{p.playbook} {'ok' if p.verified else 'NOT ok: ' + (p.verification or '')}"
                             for p in judged)
        job = _job(vm.applied)
        lines += _block("verified", verdicts + (f"; {job}" if job else ""))
    left = [f.code for f in vm.after.errors]
    warn = [f.code for f in vm.after.warnings]
    after = ("errors: " + ", ".join(left)) if left else "no errors"
    if warn:
        after += f"; warnings: {', '.join(warn)}"
    lines += _block("after", after)
    lines += _block("next day", (_job(vm.next_backup) or "no backup ran") + (" - OK" if vm.next_ok else " - FAILED"))
    return lines


def _text(vms: Sequence[DemoVm], header: str) -> str:
    lines = [*textwrap.wrap(header, _WIDTH), ""]
    for vm in vms:
        lines += [*_vm_text(vm), ""]
    fixed = sum(vm.fixed for vm in vms)
    lines.append(f"Result: {fixed} of {len(vms)} VMs back up successfully after the run"
                 f" ({sum(r.applied.write_count for r in vms)} writes in total).")
    if any(f.code == "RestorePointResourceGroupLocked" for vm in vms for f in (*vm.after.errors, *vm.after.warnings)):
        lines += textwrap.wrap(
            "Removed locks are put back by design, so RestorePointResourceGroupLocked is still reported: "
            "that lock will stop Azure Backup's cleanup again; the guide's lasting fix is to remove it.", _WIDTH)
    return "\n".join(lines)


def _markdown(vms: Sequence[DemoVm], header: str) -> str:
    lines = ["## azbackup-fix demo", "", header, "",
             "| VM | problem | playbooks | changes | verified | next backup |", "|---|---|---|---|---|---|"]
    for vm in vms:
        codes = ", ".join(f"`{f.code}`" for f in vm.before.errors) or "healthy"
        playbooks = ", ".join(p.playbook for p in vm.plan.playbooks if p.steps) or "-"
        verified = "yes" if vm.fixed else "no"
        lines.append(f"| {vm.name} | {codes} | {playbooks} | {len(vm.applied.changed)} | {verified} | "
                     f"{_job(vm.next_backup) or '-'} |")
    return "\n".join(lines)


def render_demo(vms: Sequence[DemoVm], output: str, *, header: str, extra: dict[str, Any] | None = None) -> str:
    if output == "json":
        doc = {"schema": DEMO_SCHEMA, **(extra or {}), "exit_code": demo_exit_code(vms),
               "vms": [vm.to_dict() for vm in vms]}
        return json.dumps(doc, indent=2)
    if output == "markdown":
        return _markdown(vms, header)
    return _text(vms, header)
