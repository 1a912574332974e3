"""Fleet scan progress in a blob journal: the same contract as :class:`~azbackup_fix.fleet.progress.ProgressStore`.

``scans/<scan id>.json`` holds a scan's key, arguments and status (metadata repeats key and status for
listings); its finished VMs are JSON lines in append blobs under ``scans/<scan id>/items/``, one line per VM,
appended as each VM is done. A job resubmitted on another worker with the same arguments resumes the newest
running scan with the same key, as the SQLite store does.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..fleet.progress import scan_key

if TYPE_CHECKING:
    from .blob import BlobJournal

__all__ = ["BlobProgressStore"]


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class BlobProgressStore:
    """Scans and their finished VMs in the journal's container; thread-safe (the journal's mutex)."""

    def __init__(self, journal: BlobJournal) -> None:
        self.journal = journal
        self.path = journal.path

    def close(self) -> None:
        """Nothing to close: the journal owns the client."""

    def _scan(self, scan_id: str) -> tuple[dict[str, Any], str] | None:
        found = self.journal._read(f"scans/{scan_id}.json")
        return (found[0], found[1]) if found else None

    def open_scan(self, arguments: Mapping[str, Any], *, resume: str | None = None,
                  fresh: bool = False) -> tuple[str, bool]:
        """The scan to record into: ``(scan_id, resumed)``."""
        key = scan_key(arguments)
        if resume:
            found = self._scan(resume)
            if found is None:
                raise InvalidInputError(f"no scan '{resume}' in journal {self.path}")
            if found[0]["scan_key"] != key:
                raise InvalidInputError(f"scan '{resume}' was started with other arguments; "
                                        "resume it with the same targets and options")
            return resume, True
        if not fresh:
            candidates = [
                ((i.metadata or {}).get("started", ""), self.journal._relative(i.name))
                for i in self.journal._list("scans/")
                if i.name.endswith(".json") and "/items/" not in i.name
                and (i.metadata or {}).get("key") == key and (i.metadata or {}).get("status") == "running"
            ]
            if candidates:
                newest = max(candidates)[1]
                return newest[len("scans/"):-len(".json")], True
        self.journal._ensure_marker()
        scan_id = f"scan-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        now = _stamp()
        body = {"scan_id": scan_id, "scan_key": key, "arguments": json.loads(json.dumps(arguments, default=str)),
                "status": "running", "started_at": now, "updated_at": now}
        self.journal._write(f"scans/{scan_id}.json", body, etag=None,
                            metadata={"key": key, "status": "running", "started": now})
        return scan_id, False

    def done(self, scan_id: str) -> dict[str, dict[str, Any]]:
        """Results already recorded, by folded VM id (a VM recorded twice: its last line)."""
        return {line["vm_key"]: line["result"] for line in self.journal._read_lines(f"scans/{scan_id}/items/")}

    def record(self, scan_id: str, vm_id: str, result: Mapping[str, Any]) -> None:
        self.journal._append(f"scans/{scan_id}/items/", {
            "vm_key": vm_id.casefold(), "result": json.loads(json.dumps(result, default=str)), "done_at": _stamp()})

    def finish(self, scan_id: str) -> None:
        found = self._scan(scan_id)
        if found is None:
            return
        body, etag = found
        from .blob import _Conflict

        try:
            self.journal._write(f"scans/{scan_id}.json", {**body, "status": "finished", "updated_at": _stamp()},
                                etag=etag, metadata={"key": body["scan_key"], "status": "finished",
                                                     "started": body["started_at"]})
        except _Conflict:
            pass  # written meanwhile by another job of this scan: it finished it too
