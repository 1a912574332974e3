"""resume-protection and stop-protection-retain-data: protection changes, only when explicitly allowed."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..models import VmObservation
from ..models.rails import PROTECTION
from ..steps import Step, TriggerBackup, UpdateProtection
from .base import Plan, Playbook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["ResumeProtection", "StopProtectionRetainData"]


@register
class ResumeProtection(Playbook):
    id = "resume-protection"
    title = "Resume protection of a stopped or paused VM"
    error_codes = ("UserErrorBcmDatasourceNotPresent",)
    actions = (*UpdateProtection.actions, *TriggerBackup.actions)
    disruptive = True
    rail = PROTECTION
    options = MappingProxyType({"policy_id": (str, ""), **TRIGGER_OPTIONS})

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        item = obs.protected_item
        if item is None or obs.vm is None:
            return Plan(cls.id, target, notes=("no protected item of an existing VM",))
        if not item.is_inactive:
            return Plan(cls.id, target, notes=(f"protection is {item.protection_state}",))
        policy = opts["policy_id"] or item.policy_id
        if not policy:
            return Plan(cls.id, target, refusals=("no backup policy is known; give option policy_id",))
        steps: list[Step] = [UpdateProtection(item.ref, obs.vm_ref, policy_id=policy)]
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps))


@register
class StopProtectionRetainData(Playbook):
    id = "stop-protection-retain-data"
    title = "Stop protection of a deleted VM, retaining its backup data"
    error_codes = ("VmNotFoundButProtected", "UserErrorVmNotFound", "UserErrorVmNotFoundV2")
    actions = UpdateProtection.actions
    disruptive = True
    rail = PROTECTION
    options = MappingProxyType({})

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        item = obs.protected_item
        if item is None:
            return Plan(cls.id, target, notes=("no protected item",))
        if obs.vm is not None:
            return Plan(cls.id, target, notes=("the VM exists; protection is left as it is",))
        if item.is_inactive:
            return Plan(cls.id, target, notes=(f"protection is already {item.protection_state}; data retained",))
        return Plan(cls.id, target, steps=(UpdateProtection(item.ref, obs.vm_ref, stop_retain_data=True),))
