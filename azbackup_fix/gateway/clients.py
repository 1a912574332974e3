"""The management SDK clients of a gateway, each built on first use: importing one SDK costs 0.05-0.25 s
and a command uses few of them (``diagnose`` never needs the network or Key Vault clients)."""

from __future__ import annotations

import importlib
import threading
from typing import Any

from ..sdk_imports import SDK_IMPORT_LOCK

__all__ = ["SdkClient"]


class SdkClient:
    """A descriptor for one management client class (``module``, ``name``), constructed on first access
    with the owner's credential, subscription and client keywords, and kept in ``owner._clients``."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        self.attr = name

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, gateway: Any, owner: type | None = None) -> Any:
        if gateway is None:
            return self
        clients: dict[str, Any] = gateway._clients
        client = clients.get(self.attr)
        if client is None:
            lock: threading.Lock = gateway._clients_lock
            with lock:  # fleet workers share one gateway: one client each, built once
                client = clients.get(self.attr)
                if client is None:
                    with SDK_IMPORT_LOCK:  # sdk_imports.py
                        cls = getattr(importlib.import_module(self.module), self.name)
                    client = cls(gateway._credential, gateway.subscription_id, **gateway.client_kwargs())
                    clients[self.attr] = client
        return client
