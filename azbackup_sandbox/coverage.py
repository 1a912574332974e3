"""Generates COVERAGE.md, the table of every emulated ARM operation, from the live route table.

    python -m azbackup_sandbox.coverage > azbackup_sandbox/COVERAGE.md

A test keeps the committed file equal to this output."""

from __future__ import annotations

from .core.router import Router

__all__ = ["render_coverage"]

_HEADER = """# Sandbox coverage

Every ARM operation the sandbox emulates, generated from its route table
(`python -m azbackup_sandbox.coverage`). Names in path templates are case-insensitive; `{scope*}`
spans several segments. Any api-version is accepted, except that Microsoft.Network answers 400
`NoRegisteredProviderFound` before 2023-02-01. A request outside this table answers
404 `InvalidResourceType` naming the route; a known path with another verb answers 405.

Every route also gets, from the shared pipeline and in ARM's order: 401 without a bearer token,
400 `MissingApiVersionParameter`, 404 `SubscriptionNotFound` / `ResourceGroupNotFound`, injected faults,
429 `SubscriptionRequestsThrottled` (token buckets, when enabled), 403 `AuthorizationFailed` (RBAC, when
enabled) and 409 `ScopeLocked` (the lock check column), then the provider's handler. A JWT bearer token
(what the managed-identity endpoint issues) is also checked as ARM does: 401
`InvalidAuthenticationTokenAudience` for another resource's token, `ExpiredAuthenticationToken` past its
`exp`, `InvalidAuthenticationTokenTenant` when its `tid` is not the subscription's directory.
`GET /metadata/endpoints` (the cloud metadata document) needs no token.

Resource Graph (`ResourceGraph_Resources`, api-version 2021-03-01 or 2022-10-01 only) evaluates the KQL it is
sent (`providers/resourcegraph/kql/`: where, project, project-away, project-rename, extend, summarize, join,
mv-expand, order/sort, top, take/limit, distinct, count, let) over `Resources`, `ResourceContainers` and
`RecoveryServicesResources` built from live state (`providers/resourcegraph/tables.py`); a query it cannot
parse or resolve gets 400 `BadRequest` with details `InvalidQuery` and `ParserFailure` / `SemanticError` /
`InvalidQueryLanguage` naming line, position and token. `$top`/`$skip`/`$skipToken`
paging, `data` as objectArray, and the per-user quota (15 per 5 s; 429 `RateLimiting` when throttling is
enabled) in `x-ms-user-quota-remaining` / `x-ms-user-quota-resets-after`.

| Method | Path template | Operation | RBAC action | Lock check |
|---|---|---|---|---|
"""


def render_coverage() -> str:
    router = Router()
    from .providers import register_all

    register_all(router)
    rows = [
        f"| {r.method} | `{r.template}` | {r.operation} | `{r.action}` | {r.lock_check or '-'} |"
        for r in router.routes
    ]
    return _HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render_coverage(), end="")
