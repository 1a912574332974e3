"""Frozen settings; the only module that reads environment variables.

``AZBACKUP_ARM_ENDPOINT``  ARM endpoint (sovereign clouds, Azure Stack, the sandbox server)
``AZBACKUP_CLOUD``         AzureCloud / AzureChinaCloud / AzureUSGovernment (default AzureCloud)
``AZBACKUP_SUBSCRIPTION``  default subscription (falls back to ``AZURE_SUBSCRIPTION_ID``)
``AZBACKUP_RETRY_AFTER_CAP`` longest single Retry-After wait, in seconds (default 60)
``GITHUB_STEP_SUMMARY``    when set (GitHub Actions), reports are also appended there as Markdown
``GITHUB_ACTIONS``         ``true``: problems are also written as ``::error::`` workflow commands
``TF_BUILD``               ``True`` (Azure Pipelines): problems also as ``##vso[task.logissue]`` commands
``AZBACKUP_JOURNAL``       the journal file (default: a per-user state directory, see :func:`default_journal_path`)
``AZBACKUP_GUEST_STORAGE_ENDPOINT`` HOST[:PORT] the guest probes test on 443 when a VM has no
                           boot-diagnostics storage account (docs/guest-protocol.md)

TLS trust for a private endpoint comes from the standard ``REQUESTS_CA_BUNDLE``, which the
SDK's transport reads itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidInputError

__all__ = ["Settings", "default_journal_path"]

_DEFAULT_RETRY_AFTER_CAP = 60.0


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def default_journal_path(environ: Mapping[str, str], *, platform: str = sys.platform) -> str | None:
    """The per-user journal file, from the given environment (None when it names no home).

    Linux and others: ``$XDG_STATE_HOME/azbackup-fix/journal.sqlite`` (default
    ``~/.local/state``); macOS: ``~/Library/Application Support/azbackup-fix``; Windows:
    ``%LOCALAPPDATA%\\azbackup-fix``.
    """
    home = _blank_to_none(environ.get("HOME")) or _blank_to_none(environ.get("USERPROFILE"))
    if platform == "win32":
        base = _blank_to_none(environ.get("LOCALAPPDATA")) or (
            os.path.join(home, "AppData", "Local") if home else None)
    elif platform == "darwin":
        base = os.path.join(home, "Library", "Application Support") if home else None
    else:
        base = _blank_to_none(environ.get("XDG_STATE_HOME")) or (
            os.path.join(home, ".local", "state") if home else None)
    return os.path.join(base, "azbackup-fix", "journal.sqlite") if base else None


@dataclass(frozen=True, slots=True)
class Settings:
    arm_endpoint: str | None = None
    cloud: str | None = None
    subscription_id: str | None = None
    retry_after_cap: float = _DEFAULT_RETRY_AFTER_CAP
    ca_bundle: str | None = None
    github_step_summary: str | None = None
    journal_path: str | None = None  # None: no home directory known, the caller must name a file
    ci: str | None = None  # "github" (GITHUB_ACTIONS=true) or "azure-pipelines" (TF_BUILD=True)
    guest_storage_endpoint: str | None = None  # HOST[:PORT] the guest probes test when a VM names none

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
            journal_path=_blank_to_none(env.get("AZBACKUP_JOURNAL")) or default_journal_path(env),
            ci=_ci(env),
            guest_storage_endpoint=_blank_to_none(env.get("AZBACKUP_GUEST_STORAGE_ENDPOINT")),
        )


def _ci(env: Mapping[str, str]) -> str | None:
    if (env.get("GITHUB_ACTIONS") or "").strip().lower() == "true":
        return "github"
    if (env.get("TF_BUILD") or "").strip().lower() == "true":
        return "azure-pipelines"
    return None
