"""The cloud the sandbox presents itself as: ARM's metadata document, every endpoint pointing back at the
sandbox that answers, so a client registers it as a cloud (`az cloud register --endpoint-resource-manager
URL`, `ARM_CLOUD_METADATA_URL`) and sends all its traffic there.

No state: the document is built from the base URL the request came in on. Audiences stay ARM's public
ones, so a token obtained for the cloud's `audiences[0]` is one ARM (and the sandbox) accepts."""

from __future__ import annotations

from typing import Any

__all__ = ["CLOUD_NAME", "cloud_document", "legacy_document", "document_for"]

CLOUD_NAME = "AzureSandbox"
# Before 2019-05-01 the document was the Azure Stack style object; from 2019-05-01 a list of every cloud;
# from 2022-09-01 the one cloud the endpoint belongs to.
_LIST_SINCE = "2019-05-01"
_SINGLE_SINCE = "2022-09-01"


def cloud_document(base_url: str) -> dict[str, Any]:
    """The 2022-09-01 shape: one cloud, key for key as management.azure.com returns it."""
    root = base_url.rstrip("/") + "/"
    host = base_url.split("://", 1)[-1].rstrip("/")
    return {
        "portal": root,
        "authentication": {
            "loginEndpoint": root,
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": root,
        "graphAudience": root,
        "graph": root,
        "name": CLOUD_NAME,
        "suffixes": {
            "azureDataLakeStoreFileSystem": host,
            "acrLoginServer": host,
            "sqlServerHostname": host,
            "azureDataLakeAnalyticsCatalogAndJob": host,
            "keyVaultDns": host,
            "storage": host,
            "azureFrontDoorEndpointSuffix": host,
            "storageSyncEndpointSuffix": host,
            "mhsmDns": host,
            "mysqlServerEndpoint": host,
            "postgresqlServerEndpoint": host,
            "mariadbServerEndpoint": host,
            "synapseAnalytics": host,
            "attestationEndpoint": host,
        },
        "batch": root,
        "resourceManager": root,
        "vmImageAliasDoc": root + "metadata/vm-image-aliases.json",
        "activeDirectoryDataLake": root,
        "sqlManagement": root,
        "microsoftGraphResourceId": root,
        "appInsightsResourceId": root,
        "appInsightsTelemetryChannelResourceId": root + "v2/track",
        "attestationResourceId": root,
        "synapseAnalyticsResourceId": root,
        "logAnalyticsResourceId": root,
        "ossrDbmsResourceId": root,
    }


def legacy_document(base_url: str) -> dict[str, Any]:
    """The pre-2019 (Azure Stack) shape: gallery, graph, portal and the authentication block."""
    root = base_url.rstrip("/") + "/"
    return {
        "galleryEndpoint": root,
        "graphEndpoint": root,
        "portalEndpoint": root,
        "authentication": {
            "loginEndpoint": root,
            "audiences": ["https://management.core.windows.net/"],
        },
    }


def document_for(base_url: str, api_version: str) -> Any:
    """The document in the shape that api-version has (ISO dates compare as strings)."""
    version = api_version[:10]
    if version >= _SINGLE_SINCE:
        return cloud_document(base_url)
    if version >= _LIST_SINCE:
        return [cloud_document(base_url)]
    return legacy_document(base_url)
