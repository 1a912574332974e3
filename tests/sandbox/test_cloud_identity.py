"""What clients other than the SDK need from the sandbox, in both modes: the ARM cloud metadata document
(`az cloud register`), managed-identity tokens that are JWTs (`az login --identity` reads their `tid`),
ARM's audience and expiry checks on them, and `GET /subscriptions` / `GET /tenants` of the token's
directory. The real Azure CLI drives all of it in tests/e2e/test_azure_cli.py."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from sandbox_arm import Arm

from azbackup_sandbox.core.control import (
    IDENTITY_API_VERSION,
    IDENTITY_TOKEN_LIFETIME,
    MANAGED_IDENTITY_CLIENT_ID,
    MANAGED_IDENTITY_OBJECT_ID,
    identity_secret,
)
from azbackup_sandbox.core.tokens import SIGNING_KEY, issue_token

ARM = "https://management.core.windows.net/"


def _token(arm: Arm, resource: str = ARM, **params: str) -> str:
    answer = arm.call("GET", "/_sandbox/identity",
                      params={"api-version": IDENTITY_API_VERSION, "resource": resource, **params},
                      headers={"X-IDENTITY-HEADER": identity_secret(arm.sandbox)})
    assert answer.status == 200, answer.body
    return answer.json()["access_token"]


def _metadata(arm: Arm, api_version: str) -> Any:
    answer = arm.call("GET", "/metadata/endpoints", params={"api-version": api_version}, token="")
    assert answer.status == 200, answer.body  # anonymous, as on management.azure.com
    return answer.json()


# ---- the metadata document ---------------------------------------------------------------------------


def test_metadata_document_points_every_endpoint_at_the_sandbox(arm: Arm) -> None:
    root = arm.endpoint + "/"
    cloud = _metadata(arm, "2022-09-01")
    assert cloud["name"] == "AzureSandbox"
    assert cloud["resourceManager"] == root
    assert cloud["authentication"]["loginEndpoint"] == root
    assert cloud["authentication"]["audiences"][0] == ARM  # what az asks the identity endpoint for
    assert cloud["graph"] == cloud["graphAudience"] == cloud["microsoftGraphResourceId"] == root
    assert cloud["suffixes"]["storage"] == cloud["suffixes"]["keyVaultDns"] == root.split("://")[1].rstrip("/")
    # az's cloud mapper reads these keys without a default: all present.
    for key in ("portal", "batch", "media", "sqlManagement", "activeDirectoryDataLake", "vmImageAliasDoc"):
        assert cloud[key].startswith(root)


def test_metadata_document_shape_follows_the_api_version(arm: Arm) -> None:
    single = _metadata(arm, "2022-09-01")
    assert _metadata(arm, "2019-05-01") == [single]  # ARM_CLOUD_METADATA_URL's list of clouds
    legacy = _metadata(arm, "2015-01-01")
    assert set(legacy) == {"galleryEndpoint", "graphEndpoint", "portalEndpoint", "authentication"}
    arm.configure(rbac=True)  # nobody is authorised, and the document is still served
    assert _metadata(arm, "2022-09-01") == single
    missing = arm.call("GET", "/metadata/endpoints", token="")
    assert missing.status == 400 and missing.json()["error"]["code"] == "MissingApiVersionParameter"


# ---- managed-identity tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [ARM, "https://management.azure.com", "https://storage.azure.com/",
                                      "https://graph.microsoft.com/"])
def test_identity_tokens_are_jwts_for_the_asked_resource(arm: Arm, resource: str) -> None:
    arm.load("healthy")
    token = _token(arm, resource)
    assert jwt.get_unverified_header(token) == {"typ": "JWT", "alg": "HS256"}
    claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"], audience=resource)  # a valid JWS
    (tenant,) = {s["tenantId"] for s in arm.call("GET", "/subscriptions",
                                                 params={"api-version": "2022-12-01"}).json()["value"]}
    assert claims["tid"] == tenant and claims["iss"] == f"https://sts.windows.net/{tenant}/"
    assert claims["oid"] == claims["sub"] == MANAGED_IDENTITY_OBJECT_ID
    assert claims["appid"] == MANAGED_IDENTITY_CLIENT_ID and claims["idtyp"] == "app"
    assert claims["exp"] - claims["iat"] == IDENTITY_TOKEN_LIFETIME and claims["nbf"] == claims["iat"]
    assert claims["exp"] > time.time() + 3600


def test_user_assigned_identity_token_names_it(arm: Arm) -> None:
    arm.load("healthy")
    by_client = jwt.decode(_token(arm, client_id="11111111-2222-3333-4444-555555555555"),
                           options={"verify_signature": False})
    assert by_client["appid"] == by_client["oid"] == "11111111-2222-3333-4444-555555555555"
    mi_res_id = f"/subscriptions/{arm.subscription_id}/resourceGroups/rg/providers/" \
                "Microsoft.ManagedIdentity/userAssignedIdentities/uami"
    by_resource = jwt.decode(_token(arm, mi_res_id=mi_res_id), options={"verify_signature": False})
    assert by_resource["xms_mirid"] == mi_res_id


def test_arm_accepts_its_audiences_and_refuses_others(arm: Arm) -> None:
    arm.load("healthy")
    path, params = f"/subscriptions/{arm.subscription_id}/resourcegroups", {"api-version": "2021-04-01"}
    for resource in (ARM, "https://management.azure.com", "https://management.azure.com/"):
        assert arm.call("GET", path, params=params, token=_token(arm, resource)).status == 200
        assert arm.requests()[-1]["principal"] == MANAGED_IDENTITY_OBJECT_ID
    for resource in ("https://storage.azure.com/", "https://vault.azure.net"):
        refused = arm.call("GET", path, params=params, token=_token(arm, resource))
        assert refused.status == 401
        assert refused.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
        assert resource in refused.json()["error"]["message"]


def test_arm_refuses_an_expired_jwt(arm: Arm) -> None:
    arm.load("healthy")
    tenant = arm.sandbox.resources.home_tenant_id()
    stale, _ = issue_token(audience=ARM, tenant_id=tenant, object_id=MANAGED_IDENTITY_OBJECT_ID,
                           app_id=MANAGED_IDENTITY_CLIENT_ID, lifetime=3600, now=time.time() - 7200)
    answer = arm.call("GET", f"/subscriptions/{arm.subscription_id}", params={"api-version": "2022-12-01"},
                      token=stale)
    assert answer.status == 401 and answer.json()["error"]["code"] == "ExpiredAuthenticationToken"


# ---- subscriptions and tenants of the token's directory ----------------------------------------------


def test_subscriptions_and_tenants_follow_the_token_tenant(arm: Arm) -> None:
    arm.load("healthy")
    token = _token(arm)
    tid = jwt.decode(token, options={"verify_signature": False})["tid"]
    subs = arm.call("GET", "/subscriptions", params={"api-version": "2022-12-01"}, token=token).json()["value"]
    assert [s["subscriptionId"] for s in subs] == arm.subscription_ids
    assert all(s["tenantId"] == tid and s["state"] == "Enabled" and s["managedByTenants"] == [] for s in subs)
    one = arm.call("GET", f"/subscriptions/{arm.subscription_id}", params={"api-version": "2022-12-01"},
                   token=token).json()
    assert one == subs[0]
    tenants = arm.call("GET", "/tenants", params={"api-version": "2022-12-01"}, token=token).json()["value"]
    assert [(t["id"], t["tenantId"]) for t in tenants] == [(f"/tenants/{tid}", tid)]
    assert tenants[0]["tenantCategory"] == "Home" and tenants[0]["defaultDomain"]

    other, _ = issue_token(audience=ARM, tenant_id="00000000-0000-0000-0000-0000000000aa",
                           object_id=MANAGED_IDENTITY_OBJECT_ID, app_id=MANAGED_IDENTITY_CLIENT_ID, lifetime=3600)
    elsewhere = arm.call("GET", "/subscriptions", params={"api-version": "2022-12-01"}, token=other).json()
    assert elsewhere["value"] == []  # another directory holds none of the estate's subscriptions
    wrong = arm.call("GET", f"/subscriptions/{arm.subscription_id}/resourcegroups",
                     params={"api-version": "2021-04-01"}, token=other)
    assert wrong.status == 401 and wrong.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"
    # An opaque token (tests' SandboxCredential) sees every subscription, as before.
    assert len(arm.call("GET", "/subscriptions", params={"api-version": "2022-12-01"}).json()["value"]) == 1


def test_resource_list_expands_the_provisioning_state(arm: Arm) -> None:
    # `az resource list` sends $expand=createdTime,changedTime,provisioningState.
    arm.load("failed-vmsnapshot-windows")
    listed = arm.call("GET", f"/subscriptions/{arm.subscription_id}/resources", params={
        "api-version": "2024-11-01", "$filter": "resourceType eq 'Microsoft.Compute/virtualMachines/extensions'",
        "$expand": "createdTime,changedTime,provisioningState"}).json()["value"]
    states = {item["name"]: item["provisioningState"] for item in listed}
    assert "Failed" in states.values() and "Succeeded" in states.values()
    plain = arm.call("GET", f"/subscriptions/{arm.subscription_id}/resources", params={
        "api-version": "2024-11-01"}).json()["value"]
    assert all("provisioningState" not in item for item in plain)
