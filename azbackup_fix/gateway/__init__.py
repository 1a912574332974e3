"""The only code that imports ``azure.mgmt.*``: SDK clients in, frozen models out.

:class:`Gateway` builds the four SDK clients for a subscription from a TokenCredential and
offers typed, cached reads; :func:`observe_vm` gathers one VM's observation economically;
:func:`classify` maps ARM errors (by ``error.code``) to :mod:`azbackup_fix.errors`.
"""

from .arm_errors import arm_call, classify
from .clouds import CLOUDS, Cloud, get_cloud
from .gateway import DEFAULT_RETRY_AFTER_CAP, Gateway, VaultInfo
from .observation import observe_vm, shared_reads
from .policies import CappedRetryPolicy, RequestCounter

__all__ = [
    "CLOUDS",
    "DEFAULT_RETRY_AFTER_CAP",
    "CappedRetryPolicy",
    "Cloud",
    "Gateway",
    "RequestCounter",
    "VaultInfo",
    "arm_call",
    "classify",
    "get_cloud",
    "observe_vm",
    "shared_reads",
]
