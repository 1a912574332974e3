"""Triage: a diagnosis and a playbook file in, the ordered playbook requests out.

:func:`route` is pure (no I/O, no clock, no registry): the same diagnosis and file
always give the same requests.

1. The codes that route are those of the error and warning findings, in the
   diagnosis's order (the failed job's ``errorTitle`` is one of them); info findings
   are context and never route.
2. Rules apply in file order. A rule applies when one of its codes is present, none
   of its ``unless_codes`` is, and every guard rail it ``requires`` is true.
3. A playbook routed by several rules keeps its first position and collects every
   rule's reason codes (in the diagnosis's order). Options: the file's ``defaults`` < later rules < earlier rules.
4. ``trigger-backup`` runs last: it verifies whatever the others fixed.
5. A file with ``writes_allowed: false`` routes nothing (report only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .checks.catalogue import Playbook
from .models import Diagnosis, Severity
from .playbook_file import PlaybookFile, PlaybookRule, fold_code

__all__ = ["PlaybookRequest", "route", "routing_codes", "withheld_rails"]


@dataclass(frozen=True, slots=True)
class PlaybookRequest:
    """Run ``playbook_id`` with ``options`` because of ``reason_codes`` (as the findings spell them)."""

    playbook_id: str
    options: Mapping[str, Any]
    reason_codes: tuple[str, ...]


def routing_codes(diagnosis: Diagnosis) -> tuple[str, ...]:
    """Codes of the error and warning findings, first occurrence first (aliases count once)."""
    seen: dict[str, str] = {}
    for finding in diagnosis.findings:
        if finding.severity is not Severity.INFO:
            seen.setdefault(fold_code(finding.code), finding.code)
    return tuple(seen.values())


def _applies(rule: PlaybookRule, playbook_file: PlaybookFile, codes: tuple[str, ...]) -> tuple[str, ...]:
    if not all(playbook_file.guard_rails.allows(flag) for flag in rule.requires):
        return ()
    return rule.matched(codes)


def route(diagnosis: Diagnosis, playbook_file: PlaybookFile) -> tuple[PlaybookRequest, ...]:
    """The playbooks ``playbook_file`` prescribes for ``diagnosis``, in the order to run them."""
    if not playbook_file.writes_allowed:
        return ()
    codes = routing_codes(diagnosis)
    reasons: dict[str, dict[str, None]] = {}  # playbook id -> reason codes (ordered sets)
    layers: dict[str, list[Mapping[str, Any]]] = {}  # playbook id -> option layers, earliest rule first
    for rule in playbook_file.rules:
        matched = _applies(rule, playbook_file, codes)
        if not matched:
            continue
        for pid in rule.playbooks:
            reasons.setdefault(pid, {}).update(dict.fromkeys(matched))
            layers.setdefault(pid, []).append(rule.options.get(pid, {}))
    order = [pid for pid in reasons if pid != Playbook.TRIGGER_BACKUP]
    if Playbook.TRIGGER_BACKUP in reasons:
        order.append(Playbook.TRIGGER_BACKUP)
    requests = []
    for pid in order:
        options = dict(playbook_file.defaults.get(pid, {}))
        for layer in reversed(layers[pid]):  # earlier rules applied last, so they win
            options.update(layer)
        why = tuple(code for code in codes if code in reasons[pid])  # the diagnosis's order
        requests.append(PlaybookRequest(pid, MappingProxyType(options), why))
    return tuple(requests)


def withheld_rails(diagnosis: Diagnosis, playbook_file: PlaybookFile) -> tuple[str, ...]:
    """Guard rails whose absence kept a matching rule from routing its fix (first rule first).

    A rule that matched but ``requires`` a rail not given names that rail, unless every playbook it
    would add (besides the closing backup) is routed anyway: the run must say which flag would fix it.
    """
    if not playbook_file.writes_allowed:
        return ()
    codes = routing_codes(diagnosis)
    routed = {r.playbook_id for r in route(diagnosis, playbook_file)}
    out: dict[str, None] = {}
    for rule in playbook_file.rules:
        missing = [flag for flag in rule.requires if not playbook_file.guard_rails.allows(flag)]
        if not missing or not rule.matched(codes):
            continue
        if set(rule.playbooks) - {Playbook.TRIGGER_BACKUP} - routed:
            out.update(dict.fromkeys(missing))
    return tuple(out)
