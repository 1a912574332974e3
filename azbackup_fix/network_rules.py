"""Take out the NSG rules allow-storage-outbound added (``azbackup-fix remove-network-rules``).

The journal holds each added rule (action ``nsg-rule-added``: the rule's full id, and its body) written
before the rule was. A rule is removed only when it is still the one journaled (same priority, source,
destination, port and access): a rule someone changed since is reported, not deleted. Nothing else in
the NSG is touched. Removal is journaled too (``nsg-rule-removed``) before the DELETE, so a rule is listed
until it is gone. Without ``apply`` nothing is written: the rules are listed with what would happen."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .errors import AzBackupFixError, one_line
from .ids import ResourceId
from .journal import Journal
from .steps.network import NSG_RULE_ADDED, NSG_RULE_REMOVED

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["AddedRule", "RuleRemoval", "added_rules", "remove_added_rules", "REMOVE_COMMAND"]

REMOVE_COMMAND = "azbackup-fix remove-network-rules --yes"
RemovalOutcome = Literal["would-remove", "removed", "absent", "changed", "failed"]
_COMPARED = ("priority", "access", "direction", "sourceAddressPrefix", "destinationAddressPrefix",
             "destinationPortRange")


@dataclass(frozen=True, slots=True)
class AddedRule:
    rule_id: str
    nsg_id: str
    name: str
    nic: str  # the NIC's name
    properties: dict[str, object]
    run_id: str

    @property
    def subscription(self) -> str:
        return ResourceId.parse(self.nsg_id).subscription


@dataclass(frozen=True, slots=True)
class RuleRemoval:
    rule: AddedRule
    outcome: RemovalOutcome
    message: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"rule_id": self.rule.rule_id, "nsg": self.rule.nsg_id, "name": self.rule.name,
                "network_interface": self.rule.nic, "added_by_run": self.rule.run_id,
                "properties": self.rule.properties, "outcome": self.outcome, "message": self.message}


def added_rules(journal: Journal) -> tuple[AddedRule, ...]:
    """The journaled rules not removed since, oldest first (a rule added twice is listed once)."""
    removed = {c.target.casefold() for c in journal.changes_by_action(NSG_RULE_REMOVED)}
    out: dict[str, AddedRule] = {}
    for change in journal.changes_by_action(NSG_RULE_ADDED):
        if change.target.casefold() in removed:
            continue
        detail = json.loads(change.detail)
        nsg, _, name = change.target.rpartition("/securityRules/")
        out[change.target.casefold()] = AddedRule(change.target, nsg, name, str(detail.get("nic") or ""),
                                                  dict(detail["properties"]), change.run_id)
    return tuple(out.values())


def _same(current: dict[str, object], journaled: dict[str, object]) -> bool:
    return all(str(current.get(k) or "").casefold() == str(journaled.get(k) or "").casefold() for k in _COMPARED)


def remove_added_rules(journal: Journal, gateway_for: Callable[[str], Gateway], *, apply: bool,
                       subscription: str | None = None) -> tuple[RuleRemoval, ...]:
    rules = [r for r in added_rules(journal) if not subscription or r.subscription.casefold() == subscription.casefold()]
    if not rules:
        return ()
    run_id = journal.start_run(command="remove-network-rules", targets=[r.rule_id for r in rules]) if apply else None
    results: list[RuleRemoval] = []
    try:
        for rule in rules:
            results.append(_remove(journal, run_id, gateway_for(rule.subscription), rule))
    finally:
        if run_id is not None:
            journal.finish_run(run_id, status="failed" if any(r.outcome == "failed" for r in results)
                               else "succeeded")
    return tuple(results)


def _remove(journal: Journal, run_id: str | None, gateway: Gateway, rule: AddedRule) -> RuleRemoval:
    try:
        current = gateway.get_security_rule(rule.nsg_id, rule.name)
        if current is None:
            if run_id is not None:  # gone already: nothing to delete, and no longer listed
                journal.record_change(run_id, action=NSG_RULE_REMOVED, target=rule.rule_id, detail='{"absent":true}')
            return RuleRemoval(rule, "absent", "the rule is no longer in the NSG")
        if not _same(current, rule.properties):
            return RuleRemoval(rule, "changed", "the rule was changed since it was added: left as it is")
        if run_id is None:
            return RuleRemoval(rule, "would-remove")
        journal.record_change(run_id, action=NSG_RULE_REMOVED, target=rule.rule_id, detail='{"removed":true}')
        gateway.delete_security_rule(rule.nsg_id, rule.name)
        return RuleRemoval(rule, "removed")
    except AzBackupFixError as exc:
        return RuleRemoval(rule, "failed", one_line(str(exc)))
