"""UserErrorRequestDisallowedByPolicy: which Azure Policy assignment stops Azure Backup creating its
restore-point group (the current guide 001), and the two documented ways out.

The job says only "An invalid policy is configured on the VM"; Policy Insights names the Deny
assignments that govern resource groups. One at the subscription (or a management group above it)
covers a group that does not exist yet; one at a resource group's scope cannot refuse its creation.
Nothing is exempted or changed here: the policy is somebody else's (report only).
"""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from ..models.policy import PolicyState
from .catalogue import entry_for, finding_from_entry
from .evidence import ev, ev_list
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_policy_denial"]

_CODE = "UserErrorRequestDisallowedByPolicy"
_PERMISSION = "Microsoft.PolicyInsights/policyStates/queryResults/read"


def _covers_new_groups(state: PolicyState, subscription_id: str) -> bool:
    scope = (state.assignment_scope or state.assignment_id.split("/providers/Microsoft.Authorization/")[0]).casefold()
    return "/resourcegroups/" not in scope or not scope.startswith(f"/subscriptions/{subscription_id}".casefold())


def check_policy_denial(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    del options
    job = obs.current_failed_job
    error = job.primary_error if job is not None else None
    entry = entry_for(error.error_title if error else None)
    if entry is None or entry.code != _CODE:
        return ()
    naming = obs.restore_point_rg_naming
    group = naming.name(1)
    evidence = [ev("restore-point group", group), ev("restore point group naming", naming.describe())]
    evidence += [ev("option", "change the assignment's effect from Deny to Modify (it then adds the tags)"),
                 ev("option", f"create {group} yourself with the tags the policy requires (Azure Backup's "
                              "naming schema; it then only adds collections there)")]
    if obs.policy_states is None:
        return (finding_from_entry(
            _CODE, severity=Severity.ERROR,
            title=f"A Deny policy stops Azure Backup creating or tagging {group}; its assignment could not be "
                  f"read (the identity needs {_PERMISSION})",
            evidence=[*evidence, ev("policy states", f"not read: needs {_PERMISSION}")]),)
    sub = obs.vm_ref.subscription_id
    deny = [s for s in obs.policy_states if s.denies and _covers_new_groups(s, sub)]
    assignments: dict[str, PolicyState] = {}
    for state in sorted(deny, key=lambda s: s.assignment_id.casefold()):
        assignments.setdefault(state.assignment_id.casefold(), state)
    existing = {(s.resource_name or "").casefold(): s for s in obs.policy_states if s.resource_name}
    rp_group = existing.get(group.casefold())
    noncompliant = sorted({s.resource_name for s in deny if s.resource_name
                           and (s.compliance_state or "").casefold() == "noncompliant"}, key=str.casefold)
    for state in assignments.values():
        evidence += [ev("policy assignment", state.assignment_id), ev("policy definition", state.definition_id),
                     ev("effect", state.effect)]
    evidence += [ev("restore-point group exists", rp_group is not None),
                 ev_list("groups the policy finds non-compliant", noncompliant)]
    names = ", ".join(f"'{s.assignment_name}'" for s in assignments.values()) or "none found"
    if rp_group is not None and (rp_group.compliance_state or "").casefold() == "compliant":
        # Pre-created with the naming schema (the guide's second option): the cause is gone.
        return (finding_from_entry(
            _CODE, severity=Severity.INFO,
            title=f"The last backup failed for a Deny policy ({names}); {group} now exists and complies, so the "
                  "next backup can create its restore points there",
            evidence=evidence),)
    if not assignments:
        # Policy Insights lists every assignment in force, a management group's included: none denies
        # resource groups now (the effect was changed to Modify, or the assignment removed).
        return (finding_from_entry(
            _CODE, severity=Severity.INFO,
            title=f"The last backup failed for a policy, but no Deny assignment on resource groups is in force "
                  f"now; the next backup can create {group}",
            evidence=evidence),)
    definitions = ", ".join(sorted({s.definition_name or "?" for s in assignments.values()}))
    return (finding_from_entry(
        _CODE, severity=Severity.ERROR,
        title=f"Azure Policy assignment {names} (definition {definitions}, effect Deny) stops Azure Backup creating "
              f"the restore-point group {group}: change the effect to Modify, or create {group} with the tags it "
              "requires; nothing is exempted automatically",
        evidence=evidence),)
