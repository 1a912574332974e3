"""Frozen settings; the only module that reads environment variables.

``AZBACKUP_ARM_ENDPOINT``  ARM endpoint (sovereign clouds, Azure Stack, the sandbox server)
``AZBACKUP_CLOUD``         AzureCloud / AzureChinaCloud / AzureUSGovernment (default AzureCloud)
``AZBACKUP_SUBSCRIPTION``  default subscription (falls back to ``AZURE_SUBSCRIPTION_ID``)
``AZBACKUP_RETRY_AFTER_CAP`` longest single Retry-After wait, in seconds (default 60)
``GITHUB_STEP_SUMMARY``    when set (GitHub Actions), reports are also appended there as Markdown

TLS trust for a private endpoint comes from the standard ``REQUESTS_CA_BUNDLE``, which the
SDK's transport reads itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidInputError

__all__ = ["Settings"]

_DEFAULT_RETRY_AFTER_CAP = 60.0


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


@dataclass(frozen=True, slots=True)
class Settings:
    arm_endpoint: str | None = None
    cloud: str | None = None
    subscription_id: str | None = None
    retry_after_cap: float = _DEFAULT_RETRY_AFTER_CAP
    ca_bundle: str | None = None
    github_step_summary: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        cap_text = _blank_to_none(env.get("AZBACKUP_RETRY_AFTER_CAP"))
        try:
            cap = float(cap_text) if cap_text else _DEFAULT_RETRY_AFTER_CAP
        except ValueError:
            raise InvalidInputError(f"AZBACKUP_RETRY_AFTER_CAP must be a number of seconds, got '{cap_text}'") from None
        if cap < 0:
            raise InvalidInputError("AZBACKUP_RETRY_AFTER_CAP must not be negative")
        return cls(
            arm_endpoint=_blank_to_none(env.get("AZBACKUP_ARM_ENDPOINT")),
            cloud=_blank_to_none(env.get("AZBACKUP_CLOUD")),
            subscription_id=_blank_to_none(env.get("AZBACKUP_SUBSCRIPTION")) or _blank_to_none(
                env.get("AZURE_SUBSCRIPTION_ID")
            ),
            retry_after_cap=cap,
            ca_bundle=_blank_to_none(env.get("REQUESTS_CA_BUNDLE")),
            github_step_summary=_blank_to_none(env.get("GITHUB_STEP_SUMMARY")),
        )
