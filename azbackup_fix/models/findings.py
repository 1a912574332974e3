"""Findings and the diagnosis report, with a versioned JSON form.

JSON form of a :class:`Diagnosis` (``DIAGNOSIS_SCHEMA`` = ``azbackup-fix/diagnosis/v1``;
``DIAGNOSIS_JSON_SCHEMA`` is the same as a JSON Schema document)::

    {
      "schema": "azbackup-fix/diagnosis/v1",
      "target": "/subscriptions/.../virtualMachines/vm1",
      "generated_at": "2025-01-05T02:52:09Z",
      "request_count": 14,
      "summary": {"error": 1, "warning": 1, "info": 0},
      "playbooks": ["clear-restore-point-limit"],
      "findings": [
        {
          "code": "UserErrorRpCollectionLimitReached",
          "severity": "error",
          "title": "18 restore points for this VM reach the limit of 18",
          "evidence": [{"label": "restore points", "value": 18}],
          "evidence_fields": {"restore_points": 18},
          "guide": "000",
          "guide_section": "usererrorrpcollectionlimitreached---the-restore-point-collection-max-limit-has-reached",
          "guide_title": "Troubleshoot Azure Backup failure: Issues with the agent or extension, ...",
          "guide_url": "https://learn.microsoft.com/en-us/azure/backup/...#usererrorrpcollectionlimitreached---...",
          "playbooks": ["clear-restore-point-limit"],
          "guest_steps": []
        }
      ]
    }

``summary``, ``playbooks``, ``evidence_fields``, ``guide_title`` and ``guide_url`` are derived
(recomputed on load; docs/diagnosis-schema.md lists every key). New optional keys
may be added within v1; a breaking change bumps the version.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidInputError
from .guides import guide_for, section_title
from .timestamps import format_timestamp, parse_timestamp

__all__ = [
    "DIAGNOSIS_JSON_SCHEMA",
    "DIAGNOSIS_SCHEMA",
    "Diagnosis",
    "Evidence",
    "EvidenceValue",
    "Finding",
    "Severity",
    "evidence_key",
]

DIAGNOSIS_SCHEMA = "azbackup-fix/diagnosis/v1"

EvidenceValue = str | int | float | bool | None


class Severity(enum.Enum):
    ERROR = "error"  # the backup fails (or will) because of this
    WARNING = "warning"  # likely to break backups or block a fix
    INFO = "info"  # context; nothing to do

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InvalidInputError(f"severity '{value}' is not error, warning or info") from None


def _fold(text: str) -> str:
    return " ".join(str(text).split())


def evidence_key(label: str) -> str:
    """The ``evidence_fields`` key of an evidence label: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_") or "value"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observed fact, e.g. ``Evidence('agent status', 'Not Ready')``."""

    label: str
    value: EvidenceValue

    def __post_init__(self) -> None:
        if not isinstance(self.value, (str, int, float, bool)) and self.value is not None:
            raise TypeError(f"evidence value must be str, int, float, bool or None, not {type(self.value).__name__}")
        object.__setattr__(self, "label", _fold(self.label))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(label=data["label"], value=data.get("value"))


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check concluded, tied to the guide section and the playbooks that fix it."""

    code: str  # documented error code (errorTitle) or a cause code from the catalogue
    severity: Severity
    title: str  # one line
    evidence: tuple[Evidence, ...] = ()
    guide: str | None = None  # seed id, e.g. "000"
    guide_section: str | None = None  # the guide's <a name="..."> anchor
    playbooks: tuple[str, ...] = ()  # empty: report only
    guest_steps: tuple[str, ...] = ()  # what to do inside the VM (Azure cannot)

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity.parse(self.severity))
        object.__setattr__(self, "title", _fold(self.title))
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "playbooks", tuple(self.playbooks))
        object.__setattr__(self, "guest_steps", tuple(_fold(s) for s in self.guest_steps))

    def evidence_value(self, label: str) -> EvidenceValue:
        """The first evidence value with ``label`` (case-insensitive), else ``None``."""
        return next((e.value for e in self.evidence if e.label.casefold() == label.casefold()), None)

    def evidence_fields(self) -> dict[str, EvidenceValue]:
        """The evidence as named fields (``"restore points"`` -> ``restore_points``); the first of a repeated label."""
        fields: dict[str, EvidenceValue] = {}
        for e in self.evidence:
            fields.setdefault(evidence_key(e.label), e.value)
        return fields

    @property
    def guide_title(self) -> str | None:
        """``Article title, section heading`` of the guide this finding comes from."""
        guide = guide_for(self.guide)
        if guide is None:
            return None
        section = section_title(self.guide_section)
        return f"{guide.title}, {section}" if section else guide.title

    @property
    def guide_url(self) -> str | None:
        """The Microsoft Learn URL of the guide, with the section's anchor."""
        guide = guide_for(self.guide)
        return guide.link(self.guide_section) if guide else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "evidence": [e.to_dict() for e in self.evidence],
            "evidence_fields": self.evidence_fields(),
            "guide": self.guide,
            "guide_section": self.guide_section,
            "guide_title": self.guide_title,
            "guide_url": self.guide_url,
            "playbooks": list(self.playbooks),
            "guest_steps": list(self.guest_steps),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            code=data["code"],
            severity=Severity.parse(data["severity"]),
            title=data["title"],
            evidence=tuple(Evidence.from_dict(e) for e in data.get("evidence") or ()),
            guide=data.get("guide"),
            guide_section=data.get("guide_section"),
            playbooks=tuple(data.get("playbooks") or ()),
            guest_steps=tuple(data.get("guest_steps") or ()),
        )


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The findings for one target, in the guides' order."""

    target: str
    findings: tuple[Finding, ...]
    request_count: int
    generated_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "findings", tuple(self.findings))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def is_healthy(self) -> bool:
        """No error or warning finding."""
        return not any(f.severity is not Severity.INFO for f in self.findings)

    @property
    def playbooks(self) -> tuple[str, ...]:
        """Playbook ids named by the findings, first mention first, without repeats."""
        return tuple(dict.fromkeys(p for f in self.findings for p in f.playbooks))

    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": DIAGNOSIS_SCHEMA,
            "target": self.target,
            "generated_at": format_timestamp(self.generated_at),
            "request_count": self.request_count,
            "summary": self.summary(),
            "playbooks": list(self.playbooks),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != DIAGNOSIS_SCHEMA:
            raise InvalidInputError(f"expected a '{DIAGNOSIS_SCHEMA}' document, got schema '{schema}'")
        generated = parse_timestamp(data["generated_at"])
        assert generated is not None
        return cls(
            target=data["target"],
            findings=tuple(Finding.from_dict(f) for f in data.get("findings") or ()),
            request_count=int(data["request_count"]),
            generated_at=generated,
        )


_STRINGS = {"type": "array", "items": {"type": "string"}}

DIAGNOSIS_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": DIAGNOSIS_SCHEMA,
    "title": "azbackup-fix diagnosis",
    "type": "object",
    "required": ["schema", "target", "generated_at", "request_count", "summary", "playbooks", "findings"],
    "properties": {
        "schema": {"const": DIAGNOSIS_SCHEMA},
        "target": {"type": "string", "description": "ARM id of the diagnosed VM"},
        "generated_at": {"type": "string", "format": "date-time"},
        "request_count": {"type": "integer", "minimum": 0, "description": "ARM requests the diagnosis made"},
        "summary": {
            "type": "object",
            "required": ["error", "warning", "info"],
            "properties": {s.value: {"type": "integer", "minimum": 0} for s in Severity},
        },
        "playbooks": _STRINGS,
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "code", "severity", "title", "evidence", "evidence_fields", "guide", "guide_section",
                    "guide_title", "guide_url", "playbooks", "guest_steps",
                ],
                "properties": {
                    "code": {"type": "string"},
                    "severity": {"enum": [s.value for s in Severity]},
                    "title": {"type": "string"},
                    "evidence": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["label", "value"],
                            "properties": {
                                "label": {"type": "string"},
                                "value": {"type": ["string", "number", "integer", "boolean", "null"]},
                            },
                        },
                    },
                    "evidence_fields": {
                        "type": "object",
                        "description": "the evidence by name: label in lower case, other characters as _",
                        "additionalProperties": {"type": ["string", "number", "integer", "boolean", "null"]},
                    },
                    "guide": {"type": ["string", "null"], "description": "seed id of the troubleshooting guide"},
                    "guide_section": {"type": ["string", "null"], "description": "anchor in that guide"},
                    "guide_title": {
                        "type": ["string", "null"], "description": "the article's English title and section heading",
                    },
                    "guide_url": {
                        "type": ["string", "null"], "description": "the article on Microsoft Learn, with the section anchor",
                    },
                    "playbooks": _STRINGS,
                    "guest_steps": _STRINGS,
                },
            },
        },
    },
}
