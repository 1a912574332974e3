"""One lock for the SDK imports made after start-up (PEP 562 attributes aside, the SDKs are imported where
first needed, tests/cli/test_startup.py). Python's import locks are per module: a thread importing
``azure.mgmt.recoveryservicesbackup.models`` holds that module's lock while it imports the package, and a
thread importing the package (to build the client) holds the package's while its ``__init__`` imports
``.models``: Python 3.10 then raises ``_DeadlockError`` in one of them. Every function-level import of an
Azure SDK module takes this lock first (tests/meta/test_sdk_imports.py), so such imports never interleave.
Module top levels never take it: an import in progress waits for no thread that holds it."""

from __future__ import annotations

import threading

__all__ = ["SDK_IMPORT_LOCK"]

SDK_IMPORT_LOCK = threading.RLock()  # re-entrant: an SDK import may run our code that imports another
