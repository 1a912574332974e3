"""Run reports (plan/apply) as text, JSON (schema azbackup-fix/run/v1) or Markdown."""

from __future__ import annotations

import json

from ...models import RunReport, StepOutcome
from ...models.rails import rail_named
from .. import exit_codes

__all__ = ["render_runs", "summary_line"]

_MARK = {"planned": "~", "changed": "+", "unchanged": "=", "skipped": "-", "failed": "!", "timed-out": "!"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _step_line(step: StepOutcome) -> str:
    """One step for a person: what, how it ended and why; each fact once (the error title is often in
    the reason already), internal detail keys never."""
    extra: list[str] = []
    said = step.reason or ""
    if step.reason:
        extra.append(step.reason)
    job, job_status = step.detail_value("job_id"), step.detail_value("job_status")
    if job is not None and str(job) not in said:
        extra.append(f"backup job {job} {job_status or ''}".rstrip())
        said += f" {job} {job_status}"
    for value in (step.error_code, step.detail_value("error_title")):
        if value and str(value) not in said:
            extra.append(f"error {value}")
            said += f" {value}"
    attempts = step.detail_value("attempts")
    if isinstance(attempts, int) and attempts > 1:
        extra.append(f"after {attempts} attempts")
    if step.request_id:
        extra.append(f"request id {step.request_id}")
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
    lines += [f"  pending (JournalLockPending): {p}" for p in report.pending_locks]
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
    counts = ", ".join(f"{v} {k}" for k, v in report.summary().items() if v)
    lines.append(f"  {counts or 'no steps'}; {_plural(report.request_count, 'ARM request')}, "
                 f"{_plural(report.write_count, 'write')}")
    return "\n".join(lines)


def _verdict(report: RunReport) -> str:
    """How one VM ended, in the summary's words."""
    code = report.exit_code
    if code == exit_codes.FAILURE:
        return "failed"
    if report.rails_needed:
        return "needs " + " and ".join(rail_named(r).flag for r in report.rails_needed)
    if code == exit_codes.PERMISSION:
        return "refused"
    if code == exit_codes.CHANGES_PLANNED:
        return "with changes planned"
    if code == exit_codes.REPORT_ONLY:
        return "report-only"
    if report.changed:
        return "fixed and verified"
    return "with nothing to do"


def summary_line(reports: list[RunReport], exit_code: int) -> str:
    """The one line that ends a plan or apply: how many VMs ended how, and the exit code."""
    verdicts: dict[str, int] = {}
    for report in reports:
        verdict = _verdict(report)
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    parts = ", ".join(f"{n} {v}" for v, n in verdicts.items())
    return f"{_plural(len(reports), 'VM')}: {parts or 'none'}; exit {exit_code}"


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


def render_runs(reports: list[RunReport], output: str, *, exit_code: int | None = None) -> str:
    """The reports; text and Markdown end with the summary line when ``exit_code`` is given."""
    if output == "json":
        docs = [r.to_dict() for r in reports]
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2)
    if output == "markdown":
        body = "\n\n".join(_markdown(r) for r in reports)
        return body if exit_code is None else f"{body}\n\n**Summary:** {summary_line(reports, exit_code)}"
    body = "\n\n".join(_text(r) for r in reports)
    return body if exit_code is None else f"{body}\n\nSummary: {summary_line(reports, exit_code)}"
