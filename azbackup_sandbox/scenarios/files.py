"""Reading estate documents (YAML or JSON, from a path, text or an already parsed mapping) and the
estates shipped in the package (`azbackup_sandbox/estates/*.yaml`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from .reader import EstateError
from .schema import parse_estate
from .spec import EstateSpec

__all__ = ["EstateFileError", "LoadedEstate", "read_estate", "parse_text", "shipped_estates", "ESTATES_DIR",
           "dump_yaml"]

ESTATES_DIR = Path(__file__).resolve().parent.parent / "estates"


class EstateFileError(ValueError):
    """One line: `<source>: <field path>: expected ..., got ...`."""

    def __init__(self, source: str, error: EstateError | str) -> None:
        self.source = source
        self.path = error.path if isinstance(error, EstateError) else ""
        super().__init__(f"{source}: {error}")


@dataclass(frozen=True)
class LoadedEstate:
    source: str
    name: str | None
    spec: EstateSpec


def parse_text(text: str, source: str) -> Any:
    """YAML (JSON is YAML too); a syntax error becomes one line with its position."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise EstateFileError(source, f"{where}not valid YAML/JSON ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise EstateFileError(source, f"not valid YAML/JSON ({exc})") from None


def read_estate(estate: str | PathLike[str] | dict[str, Any], *, source: str | None = None) -> LoadedEstate:
    """Read and validate fully (a path names a file; anything else is the document); nothing here
    touches a sandbox."""
    name: str | None = None
    if not isinstance(estate, (str, PathLike)):
        label, document = source or "estate", estate
    else:
        path = Path(estate)
        label = source or path.name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EstateFileError(label, f"cannot read the file ({exc.strerror or exc})") from None
        document = json.loads(text) if path.suffix.lower() == ".json" and _is_json(text) else parse_text(text, label)
        name = path.stem
    try:
        spec = parse_estate(document)
    except EstateError as exc:
        raise EstateFileError(label, exc) from None
    return LoadedEstate(label, spec.name or name, spec)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@cache
def _shipped_text(name: str) -> str:
    return (ESTATES_DIR / f"{name}.yaml").read_text(encoding="utf-8")


def shipped_estates() -> dict[str, Path]:
    """name -> file of every estate in the package, sorted by name."""
    return {p.stem: p for p in sorted(ESTATES_DIR.glob("*.yaml"))}


@cache
def read_shipped(name: str) -> LoadedEstate:
    """A shipped estate, parsed once per process (specs are frozen, so sharing is safe)."""
    text = _shipped_text(name)
    source = f"{name}.yaml"
    try:
        return LoadedEstate(source, name, parse_estate(parse_text(text, source)))
    except EstateError as exc:
        raise EstateFileError(source, exc) from None


def dump_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)
