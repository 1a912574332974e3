"""Wire format of policy assignments (read) and Policy Insights' policyStates query."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ...core.errors import ArmError
from ...core.http import SandboxRequest, SandboxResponse, json_response
from ...core.paging import page
from . import errors

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]

_SUB = "/subscriptions/{subscriptionId}"
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def _list_assignments(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    items = [a.to_arm() for a in sb.policy.for_subscription(p["subscriptionId"])]
    return json_response(200, page(req, items, sb.config.page_size))


def _matches(record: dict[str, Any], text: str) -> bool:
    """`field eq 'value'` clauses joined by `and` (case-insensitive), as Policy Insights accepts them."""
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(clause)
        if m is None:
            raise errors.invalid_filter(text)
        field = next((k for k in record if k.lower() == m.group(1).lower()), None)
        if field is None:
            raise errors.invalid_filter(text)
        if str(record[field]).lower() != m.group(2).lower():
            return False
    return True


_STATES_API_VERSIONS = ("2018-04-04", "2019-10-01")  # the stable ones Policy Insights serves [K]


def _query_states(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    if p["policyStatesResource"].lower() != "latest":
        raise errors.invalid_filter(f"policyStates/{p['policyStatesResource']} (only 'latest' is evaluated)")
    version = req.query.get("api-version")
    if version not in _STATES_API_VERSIONS:
        raise ArmError(400, "InvalidApiVersionParameter",
                       f"The api-version '{version}' is invalid. The supported versions are "
                       f"'{', '.join(_STATES_API_VERSIONS)}'.")
    text = req.query.get("$filter") or ""
    records = [r for r in sb.policy.states(p["subscriptionId"]) if not text or _matches(r, text)]
    top = req.query.get("$top")
    if top and top.isdigit():
        records = records[: int(top)]
    body = {"@odata.context": "https://management.azure.com/subscriptions/"
            f"{p['subscriptionId']}/providers/Microsoft.PolicyInsights/policyStates/$metadata#latest",
            "@odata.count": len(records), "value": records}
    return json_response(200, body)


def register(router: Router) -> None:
    router.add("GET", _SUB + "/providers/Microsoft.Authorization/policyAssignments", _list_assignments,
               operation="PolicyAssignments_List", action="Microsoft.Authorization/policyAssignments/read")
    router.add("POST", _SUB + "/providers/Microsoft.PolicyInsights/policyStates/{policyStatesResource}/queryResults",
               _query_states, operation="PolicyStates_ListQueryResultsForSubscription",
               action="Microsoft.PolicyInsights/policyStates/queryResults/read")
