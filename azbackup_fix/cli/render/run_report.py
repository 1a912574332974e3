"""Run reports (plan/apply) as text, JSON (schema azbackup-fix/run/v1) or Markdown."""

from __future__ import annotations

import json

from ...models import RunReport, StepOutcome
from ...models.rails import rail_named

__all__ = ["render_runs"]

_MARK = {"planned": "~", "changed": "+", "unchanged": "=", "skipped": "-", "failed": "!", "timed-out": "!"}


def _step_line(step: StepOutcome) -> str:
    extra = []
    if step.reason:
        extra.append(step.reason)
    if step.error_code:
        extra.append(f"code {step.error_code}")
    if step.request_id:
        extra.append(f"request id {step.request_id}")
    for key in ("job_id", "job_status", "error_title", "attempts"):
        value = step.detail_value(key)
        if value is not None:
            extra.append(f"{key} {value}")
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"{_MARK.get(step.status.value, '?')} [{step.status.value}] {step.description}{tail}"


def _needs(report: RunReport) -> list[str]:
    """One line per guard rail the fix needs, and the report-only causes: what to do next."""
    lines = []
    for name in report.rails_needed:
        rail = rail_named(name)
        lines.append(f"needs {rail.flag}: the documented fix ({rail.allows}) is not applied without it")
    if report.report_only:
        lines.append(f"report-only: {', '.join(report.report_only)}: no Azure-side change here fixes it; "
                     "see the diagnosis for the steps to take")
    return lines


def _text(report: RunReport) -> str:
    lines = [f"{report.mode}: {report.target}"]
    lines += [f"  recovered lock {r}" for r in report.recovered_locks]
    lines += [f"  refused: {r}" for r in report.refusals]
    lines += [f"  {line}" for line in _needs(report)]
    if not report.playbooks and not _needs(report):
        lines.append("  nothing to do")
    for pb in report.playbooks:
        verdict = "" if pb.verified is None else f" - verified: {pb.verification}" if pb.verified else \
            f" - NOT verified: {pb.verification}"
        lines.append(f"  {pb.playbook}{verdict}")
        lines += [f"    note: {n}" for n in pb.notes]
        lines += [f"    {_step_line(s)}" for s in pb.steps]
        if not pb.steps:
            lines.append("    (no change needed)")
    counts = ", ".join(f"{k} {v}" for k, v in report.summary().items() if v)
    lines.append(f"  {counts or 'no steps'}; {report.request_count} ARM requests, {report.write_count} writes")
    return "\n".join(lines)


def _markdown(report: RunReport) -> str:
    lines = [f"### azbackup-fix {report.mode}: `{report.target.rsplit('/', 1)[-1]}`", "",
             "| playbook | step | status | target | detail |", "|---|---|---|---|---|"]
    for pb in report.playbooks:
        for s in pb.steps:
            detail = (s.reason or "").replace("|", "\\|")
            lines.append(f"| {pb.playbook} | {s.description} | {s.status.value} | `{s.target}` | {detail} |")
    lines += [f"- refused: {r}" for r in report.refusals]
    lines += [f"- {line}" for line in _needs(report)]
    return "\n".join(lines)


def render_runs(reports: list[RunReport], output: str) -> str:
    if output == "json":
        docs = [r.to_dict() for r in reports]
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2)
    if output == "markdown":
        return "\n\n".join(_markdown(r) for r in reports)
    return "\n\n".join(_text(r) for r in reports)
