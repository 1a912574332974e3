"""The Playbook base class: observe -> plan (pure) -> apply -> verify.

A playbook declares its stable ``id``, the ``error_codes`` it answers, the RBAC ``actions``
it may need, whether it is ``destructive`` (deletes something) or ``disruptive`` (may
interrupt the workload or change protection), and its ``options`` schema. :meth:`plan`
is a pure function of a :class:`~azbackup_fix.models.VmObservation` and options: the
same state always gives the same :class:`Plan`. The runner executes the plan's steps
(or, in dry-run, reports them as planned) and calls :meth:`verify` on fresh state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from ..errors import InvalidInputError
from ..models import VirtualMachine, VmObservation
from ..models.options import Option, as_option
from ..models.rails import GuardRail
from ..steps import Step

__all__ = ["VM_GONE", "Plan", "Playbook", "Verification", "VmPlaybook", "resolve_options"]

VM_GONE = "the VM does not exist"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a playbook would do for one VM: ordered steps with exact targets, and why.

    ``refusals`` are guard-rail refusals (a lock the scope rules forbid touching); ``notes``
    say what the plan found or why it does nothing.
    """

    playbook: str
    target: str
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("steps", "notes", "refusals"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def is_empty(self) -> bool:
        return not self.steps

    def describe(self) -> tuple[str, ...]:
        return tuple(s.describe() for s in self.steps)


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    message: str


def resolve_options(schema: Mapping[str, Option | tuple[type, Any]], given: Mapping[str, Any] | None,
                    *, playbook: str) -> dict[str, Any]:
    """Defaults from ``schema`` overlaid with ``given``; unknown names, wrong types and values outside
    an option's minimum/maximum/enum are InvalidInputError (exit 2), before anything runs."""
    specs = {name: as_option(spec) for name, spec in schema.items()}
    out = {name: spec.default for name, spec in specs.items()}
    for name, value in (given or {}).items():
        if name not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise InvalidInputError(f"playbook '{playbook}' has no option '{name}' (options: {known})")
        kind = specs[name].type
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if kind in (tuple, list) and isinstance(value, (tuple, list)):
            value, ok = tuple(value), True
        if value is None and specs[name].default is None:
            ok = True
        if not ok:
            raise InvalidInputError(
                f"playbook '{playbook}' option '{name}' must be {kind.__name__}, got {type(value).__name__}"
            )
        problem = specs[name].problem(value)
        if problem is not None:
            raise InvalidInputError(f"playbook '{playbook}' option '{name}' {problem}")
        out[name] = value
    return out


class Playbook:
    """Base of every playbook; subclasses set the class attributes and implement :meth:`plan`."""

    id: ClassVar[str]
    title: ClassVar[str] = ""
    error_codes: ClassVar[tuple[str, ...]] = ()
    actions: ClassVar[tuple[str, ...]] = ()
    destructive: ClassVar[bool] = False
    disruptive: ClassVar[bool] = False
    inspection_only: ClassVar[bool] = False
    rail: ClassVar[GuardRail | None] = None  # the guard rail some of its steps need
    options: ClassVar[Mapping[str, Option | tuple[type, Any]]] = MappingProxyType({})

    @classmethod
    def resolve(cls, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return resolve_options(cls.options, given, playbook=cls.id)

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        """Pure: the steps this playbook would take for ``observation``."""
        raise NotImplementedError

    @classmethod
    def nothing(cls, observation: VmObservation, *notes: str) -> Plan:
        """No step for this VM, and why."""
        return Plan(cls.id, observation.vm_ref.id, notes=notes)

    @classmethod
    def busy(cls, observation: VmObservation) -> Plan | None:
        """The plan while a backup job of this VM runs (a change now would race it), else None."""
        jobs = observation.in_progress_jobs_here
        if not jobs:
            return None
        return cls.nothing(observation, f"backup job {jobs[0].ref.name} is in progress; run again when it finishes")

    @classmethod
    def verify(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Verification:
        """Judge fresh state after apply; by default: re-planning finds nothing left to do."""
        again = cls.plan(observation, options)
        if again.is_empty:
            return Verification(True, "nothing left to do")
        return Verification(False, "still to do: " + "; ".join(again.describe()))


class VmPlaybook(Playbook):
    """A playbook that acts on the VM itself: nothing to plan for a VM that no longer exists."""

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)  # bad options are bad input even for a VM that is gone
        if observation.vm is None:
            return cls.nothing(observation, VM_GONE)
        return cls.plan_vm(observation, observation.vm, opts)

    @classmethod
    def plan_vm(cls, obs: VmObservation, vm: VirtualMachine, opts: dict[str, Any]) -> Plan:
        """Pure: the steps for ``obs``, whose VM ``vm`` exists; ``opts`` resolved."""
        raise NotImplementedError
