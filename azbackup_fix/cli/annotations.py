"""CI annotations: one line per problem as a GitHub Actions ``::error::`` workflow command or an
Azure Pipelines ``##vso[task.logissue type=error]`` logging command; warning findings as
``::warning::`` and ``##vso[task.logissue type=warning]``.

The CI systems read these commands from the job's output (stdout and stderr alike); they go to
stdout with ``--output text`` only. With ``--output json`` stdout must stay one JSON document, and
``--output markdown`` is the content a pipeline saves as its summary file (``| tee report.md``),
which must hold no ``##vso``/``::error::`` line: with both they go to stderr.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..models import Diagnosis, RunReport
from .commands.base import Io

__all__ = ["Problem", "annotation_lines", "diagnosis_problems", "run_problems", "write_annotations"]


def _gh_escape(text: str, *, prop: bool = False) -> str:
    # GitHub's escaping rules for workflow command data and properties.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _vso_escape(text: str) -> str:
    return (text.replace("%", "%AZP25").replace(";", "%3B").replace("\r", "%0D").replace("\n", "%0A")
            .replace("]", "%5D"))


Problem = tuple[str, str] | tuple[str, str, str]  # (title, message[, level]); level "error" (default) or "warning"


def diagnosis_problems(diagnoses: Iterable[Diagnosis]) -> list[Problem]:
    """(title, message, level) per error finding, then per warning finding, for each VM."""
    out: list[Problem] = []
    for d in diagnoses:
        vm = d.target.rsplit("/", 1)[-1]
        for level, findings in (("error", d.errors), ("warning", d.warnings)):
            for f in findings:
                fix = f" (fix: {', '.join(f.playbooks)})" if f.playbooks else ""
                out.append((f"{vm}: {f.code}", f"{vm}: {f.code}: {f.title}{fix}", level))
    return out


def run_problems(reports: Iterable[RunReport]) -> list[tuple[str, str]]:
    """(title, message) per failed or refused step and per refusal."""
    out = []
    for r in reports:
        vm = r.target.rsplit("/", 1)[-1]
        out += [(f"{vm}: refused", f"{vm}: refused: {text}") for text in r.refusals]
        for step in r.steps:
            if step.status.is_failure or step.refused:
                code = f" {step.error_code}" if step.error_code else ""
                out.append((f"{vm}: {step.step}{code}", f"{vm}: {step.step} {step.status.value}{code}: {step.reason}"))
    return out


def _level(problem: Problem) -> str:
    return "warning" if problem[2:] == ("warning",) else "error"


def annotation_lines(problems: Sequence[Problem], ci: str | None) -> list[str]:
    if ci == "github":
        return [f"::{_level(p)} title={_gh_escape(p[0], prop=True)}::{_gh_escape(p[1])}" for p in problems]
    if ci == "azure-pipelines":
        return [f"##vso[task.logissue type={_level(p)}]{_vso_escape(p[1])}" for p in problems]
    return []


def write_annotations(problems: Sequence[Problem], ci: str | None, io: Io, *, output: str) -> None:
    lines = annotation_lines(problems, ci)
    if lines:
        stream = io.out if output == "text" else io.err  # never into JSON or a Markdown file
        stream.write("\n".join(lines) + "\n")
