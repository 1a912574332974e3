"""Renderers: a list of diagnoses to text, JSON or Markdown."""

from __future__ import annotations

from collections.abc import Sequence

from ...models import Diagnosis
from .json_report import render_json
from .markdown import render_markdown
from .text import render_text

__all__ = ["render", "render_json", "render_markdown", "render_text"]


def render(diagnoses: Sequence[Diagnosis], output: str, *, single: bool = False) -> str:
    if output == "json":
        return render_json(diagnoses, single=single)
    if output == "markdown":
        return render_markdown(diagnoses)
    return render_text(diagnoses)
