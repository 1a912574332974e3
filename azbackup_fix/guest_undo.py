"""Undo the guest settings a run changed (``azbackup-fix recover --undo-guest-changes RUN_ID``).

Each setting fix-guest changed was journaled before the change (``guest-setting``: ``{"action", "setting",
"value", "before"}``, steps/guest.py). Undoing puts each back to its value before: a registry value back, or
deleted when it did not exist; a service's start type or logon account back (the account takes effect when the
service restarts: only with ``allow_disruptive``); a Defender exclusion removed when the fix added it; the
waagent.conf options back (the agent restarts to read them). A service restart or start, and an agent update,
are not settings and stay. Dry run by default; applying needs ``allow_guest_changes``, runs one fix script
per VM through Run Command, journals the undo as its own run (its ``guest-setting`` entries can be undone in
turn) and probes the guest again. Each undone entry is recorded (``guest-setting-undone``, ``change:<run id>:<id>``),
so a second undo changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import AzBackupFixError, GuardRailError
from .guest import GuestChannel, channel_problem
from .ids import VmRef
from .journal import Change, Journal
from .models import Finding, Severity
from .models.guest import GuestFix
from .models.rails import DISRUPTIVE, GUEST
from .steps.guest import GUEST_FIX_ACTION
from .undo import UndoLedger

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["GUEST_SETTING_UNDONE", "GuestSettingUndo", "GuestUndoReport", "undo_fixes", "undo_guest_changes"]

GUEST_SETTING_UNDONE = "guest-setting-undone"
_ABSENT = ("", "none", "null")  # how a probe's missing value reads in a journaled "before"


@dataclass(frozen=True, slots=True)
class GuestSettingUndo:
    """One journaled setting: what undoing it does (``fixes``), or why nothing is sent (``note``)."""

    change_id: int
    vm: str
    action: str  # the fix's action (set-registry, set-service, ...)
    setting: str
    outcome: str  # planned | undone | already-undone | kept | failed
    fixes: tuple[GuestFix, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"change_id": self.change_id, "vm": self.vm, "action": self.action, "setting": self.setting,
                "outcome": self.outcome, "undo": [f.describe() for f in self.fixes], "note": self.note}


@dataclass(frozen=True, slots=True)
class GuestUndoReport:
    run_id: str
    applied: bool
    settings: tuple[GuestSettingUndo, ...] = ()
    undo_run_id: str | None = None
    # After applying: each VM's findings from probing it again (the guest as it is now), or the probe's problem.
    reprobe: dict[str, tuple[Finding, ...]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failed" for s in self.settings)

    @property
    def planned(self) -> bool:
        return any(s.outcome == "planned" for s in self.settings)

    def to_dict(self) -> dict[str, object]:
        return {"run_id": self.run_id, "applied": self.applied, "undo_run_id": self.undo_run_id,
                "settings": [s.to_dict() for s in self.settings],
                "reprobe": {vm: [{"code": f.code, "title": f.title} for f in found]
                            for vm, found in self.reprobe.items()}}


def _absent(value: Any) -> bool:
    return value is None or str(value).strip().casefold() in _ABSENT


def undo_fixes(detail: dict[str, Any], *, allow_disruptive: bool = False) -> tuple[tuple[GuestFix, ...], str | None]:
    """The fixes that put one journaled setting back (pure), and a note for what they leave."""
    action, setting, value, before = detail.get("action"), str(detail.get("setting")), detail.get("value"), \
        detail.get("before")
    if action == "set-registry":
        if _absent(before):
            return (GuestFix("delete-registry", setting, before=value),), None
        return (GuestFix("set-registry", setting, str(before), before=value),), None
    if action == "set-service":
        service, _, key = setting.partition(".")
        if _absent(before):
            return (), f"the {key} of {service} before the fix is not known: left as it is"
        back = GuestFix("set-service", setting, str(before), before=value)
        if key.casefold() != "account":
            return (back,), None
        if allow_disruptive:
            return (back, GuestFix("restart-service", service, before="running", disruptive=True)), None
        return (back,), f"takes effect when {service} restarts; {DISRUPTIVE.flag} restarts it now"
    if action == "add-defender-exclusion":
        if before is True or str(before).casefold() == "true":
            return (), "the exclusion was there before the fix: kept"
        return (GuestFix("remove-defender-exclusion", setting, before=True),), None
    if action == "waagent-conf":
        return (GuestFix("restore-waagent-conf", setting, str(before or ""), before=value),), \
            "the agent restarts to read them"
    if action in ("restart-service", "start-service"):
        return (), "starting or restarting a service is not a setting: it keeps running"
    if action == "agent-update":
        return (), f"the agent stays updated (from {before}): downgrading it is not offered"
    return (), f"no undo is known for {action}"


def undo_guest_changes(journal: Journal, gateway: Gateway | Callable[[str], Gateway], run_id: str, *,
                       apply: bool = False, allow_guest_changes: bool = False, allow_disruptive: bool = False,
                       undo_run_id: str | None = None) -> GuestUndoReport:
    """Put run ``run_id``'s journaled guest settings back (newest first); ``apply=False`` only says how.
    ``gateway``: one, or a factory by subscription id. Raises :class:`GuardRailError` (nothing sent) when
    applying without ``allow_guest_changes``, or ``allow_disruptive`` for a service restart it would make."""
    with UndoLedger(journal, run_id, actions=(GUEST_FIX_ACTION,), undone_action=GUEST_SETTING_UNDONE,
                    command="recover --undo-guest-changes", undo_run_id=undo_run_id, record=apply) as ledger:
        planned = [_planned(c, ledger.undone(c), allow_disruptive) for c in ledger.changes]
        todo = [(c, s) for c, s in zip(ledger.changes, planned, strict=True) if s.outcome == "planned"]
        if not apply or not todo:
            return GuestUndoReport(run_id, False, tuple(planned))
        if not allow_guest_changes:
            raise GuardRailError(f"undoing guest settings needs {GUEST.flag} ({GUEST.allows}; keyword {GUEST.name})")
        done: dict[int, GuestSettingUndo] = {}
        reprobe: dict[str, tuple[Finding, ...]] = {}
        for vm_id in dict.fromkeys(s.vm for _, s in todo):
            mine = [(c, s) for c, s in todo if s.vm == vm_id]
            results, found = _undo_vm(ledger, gateway, vm_id, mine)
            done.update(results)
            if found is not None:
                reprobe[vm_id] = found
        settings = tuple(done.get(s.change_id, s) for s in planned)
        if any(s.outcome == "failed" for s in settings):
            ledger.fail()
        return GuestUndoReport(run_id, True, settings, ledger.undo_run_id, reprobe)


def _planned(change: Change, undone: bool, allow_disruptive: bool) -> GuestSettingUndo:
    detail = json.loads(change.detail)
    vm, _, setting = change.target.partition("#")
    action = str(detail.get("action"))
    if undone:
        return GuestSettingUndo(change.change_id, vm, action, setting, "already-undone")
    fixes, note = undo_fixes(detail, allow_disruptive=allow_disruptive)
    return GuestSettingUndo(change.change_id, vm, action, setting, "planned" if fixes else "kept", fixes, note)


def _undo_vm(ledger: UndoLedger, gateway: Gateway | Callable[[str], Gateway], vm_id: str,
             todo: Sequence[tuple[Change, GuestSettingUndo]]) -> tuple[dict[int, GuestSettingUndo],
                                                                        tuple[Finding, ...] | None]:
    """One fix script for all of one VM's settings, journaled first; then the guest probed again."""
    from .checks.guest import guest_findings

    def failed(why: str) -> dict[int, GuestSettingUndo]:
        return {s.change_id: _with(s, "failed", why) for _, s in todo}

    ref = VmRef.parse(vm_id)
    gw = gateway if hasattr(gateway, "get_vm") else gateway(ref.subscription_id)  # type: ignore[operator]
    try:
        vm = gw.get_vm(ref)  # type: ignore[union-attr]
    except AzBackupFixError as exc:
        return failed(str(exc)), None
    problem = channel_problem(vm)
    if problem is not None:
        return failed(f"nothing can run in the guest: {problem}"), None
    fixes = tuple(f for _, s in todo for f in s.fixes)
    for fix in fixes:  # the undo is a change too: journaled before it is sent, with the value it replaces
        ledger.journal.record_change(ledger.undo_run_id or "", action=GUEST_FIX_ACTION, target=f"{vm_id}#{fix.target}",
                                     detail=json.dumps({"action": fix.action, "setting": fix.target,
                                                        "value": fix.value, "before": fix.before},
                                                       separators=(",", ":"), default=str))
    channel = GuestChannel(gw)  # type: ignore[arg-type]
    try:
        _, out = channel.fix(vm, fixes)
    except AzBackupFixError as exc:
        return failed(f"Run Command failed: {exc}"), None
    if out.problem or out.errors:
        return failed("the undo script " + (out.problem or "reported: " + "; ".join(out.errors))), None
    results = {}
    for change, setting in todo:
        ledger.mark_undone(change)
        results[setting.change_id] = _with(setting, "undone", setting.note)
    # What is left to fix: an info note (a check that could not run) is no cause come back.
    return results, tuple(f for f in guest_findings(channel.probe(vm)) if f.severity is not Severity.INFO)


def _with(setting: GuestSettingUndo, outcome: str, note: str | None) -> GuestSettingUndo:
    return GuestSettingUndo(setting.change_id, setting.vm, setting.action, setting.setting, outcome, setting.fixes,
                            note)
