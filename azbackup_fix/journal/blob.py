"""The journal in Azure Blob Storage: the same write-ahead rules as the SQLite file, for runs on any worker.

An Azure Automation job's temp directory dies with the job; a container does not. Layout under the
location's prefix (every body JSON; blob metadata repeats what listings filter on)::

    journal.json                       marker: {"kind": "azbackup-fix-journal", "schema": 1}
    ids/entry                          the last entry id given out (ETag-guarded counter)
    runs/<run id>.json                 a run: command, targets, status, pid, host, times, heartbeat
    locks/<key hash>/<gen>.json        the entries of one lock, generation 1, 2, ...; the newest may be pending
    changes/<action>/<segment>.jsonl   append blobs: the audit trail, one JSON line per change
    scans/<scan id>.json               fleet scan progress (see blob_progress), items in append blobs

The rules, and the Storage feature each one rests on:

* **Write-ahead, create-only.** An entry is created with ``If-None-Match: *`` before the lock is deleted.
  One lock has at most one pending entry: a new entry is generation *g+1* of its lock, created only when
  generation *g* is no longer pending; of two runs creating *g+1*, Storage lets one win (409 for the other).
* **ETag-guarded changes.** Every later write of an entry or a run sends ``If-Match`` with the ETag read;
  a 412 means someone else wrote first, and the decision is taken again on what is there now.
* **Recovery under a lease.** :meth:`BlobJournal.claim_pending` takes a blob lease (60 s, renewed) on each
  entry it will restore and re-reads it under the lease; a second recoverer cannot get the lease, so it
  leaves the entry alone ("in-use"), and nobody else can write the entry while it is leased.
* **Liveness without flock.** A run's process rewrites its run blob every :data:`HEARTBEAT_SECONDS`; a
  run whose blob is "running" but was last written more than the grace period ago (Storage's own clock:
  the response's ``Date`` against the blob's ``Last-Modified``) is dead, and its pending entries are
  recovered by the next run on any worker. ``AZBACKUP_JOURNAL_GRACE`` sets the grace (seconds).

Nothing secret is stored: details pass through :func:`~azbackup_fix.errors.one_line`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from ..errors import one_line
from ..models.locks import Lock
from ..sdk_imports import SDK_IMPORT_LOCK
from .location import BlobLocation
from .records import (
    PENDING_STATES,
    Change,
    JournalBase,
    JournalError,
    JournalPermissionError,
    LeftLock,
    LockInUseError,
    PendingLock,
    RunInfo,
)

__all__ = [
    "BLOB_SCHEMA_VERSION",
    "DEFAULT_GRACE_SECONDS",
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "STORAGE_API_VERSION",
    "BlobJournal",
]

BLOB_SCHEMA_VERSION = 1
# The Storage REST version the journal speaks: one that Azure in every cloud and Azurite 3.35 accept.
STORAGE_API_VERSION = "2025-11-05"
LEASE_SECONDS = 60  # Storage's longest finite lease
HEARTBEAT_SECONDS = 15.0  # run heartbeats and lease renewals
DEFAULT_GRACE_SECONDS = 120.0  # eight missed heartbeats
_RETRIES = 20  # optimistic-concurrency retries before giving up (contention, not errors)
_KIND = "azbackup-fix-journal"

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat(timespec="microseconds")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _key_hash(lock_id: str) -> str:
    return hashlib.sha256(lock_id.casefold().encode()).hexdigest()[:40]


def _code(exc: BaseException) -> str:
    """Storage's error code (the SDK gives an enum member or a string)."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


class _Conflict(Exception):
    """A conditional write lost (412 ConditionNotMet / 409 BlobAlreadyExists): decide again."""


class _Missing(Exception):
    """The blob does not exist (its container does)."""


class _Leased(Exception):
    """The blob is leased by someone else (another recovery is restoring this entry)."""


def _storage() -> Any:
    """The azure-storage-blob module, or one clear line when the optional extra is not installed."""
    try:
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            import azure.storage.blob as blob
    except ImportError:
        raise JournalError("a Blob Storage journal needs the 'blob' extra: pip install 'azbackup-fix[blob]' "
                           "(azure-storage-blob)") from None
    return blob


class BlobJournal(JournalBase):
    """A journal in a Blob Storage container; one object may be shared by the threads of a run.

    ``credential``: an azure-identity credential (the Automation account's managed identity); it needs
    the data role *Storage Blob Data Contributor* on the container. ``grace_seconds``: how long a run
    may go without a heartbeat before it counts as dead. ``client_kwargs`` go to the SDK's
    ``ContainerClient`` (``connection_verify``, ``transport``).
    """

    def __init__(self, location: BlobLocation, credential: Any, *, grace_seconds: float | None = None,
                 **client_kwargs: Any) -> None:
        blob = _storage()
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.core import MatchConditions

        self.location = location
        self.path = location.url  # what reports print; the SQLite journal's is its file
        self.grace_seconds = DEFAULT_GRACE_SECONDS if grace_seconds is None else float(grace_seconds)
        self._match = MatchConditions
        self._blob = blob
        self._container = blob.ContainerClient(location.account_url, location.container, credential=credential,
                                               api_version=STORAGE_API_VERSION, **client_kwargs)
        self._mutex = threading.RLock()
        self._held: dict[str, str] = {}  # run id -> ETag of its run blob (runs this object runs)
        self._leases: dict[str, tuple[str, Any]] = {}  # entry blob -> (run id, BlobLeaseClient)
        self._names: dict[int, str] = {}  # entry id -> blob name
        self._segments: dict[str, int] = {}  # append folder -> current segment
        self._seq = 0
        self._marked = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        try:
            self._check_marker()
        except BaseException:
            self._container.close()
            raise

    # -- plumbing -------------------------------------------------------------------------------

    def _name(self, relative: str) -> str:
        return self.location.prefix + relative

    def _client(self, relative: str) -> Any:
        return self._container.get_blob_client(self._name(relative))

    def _fail(self, what: str, exc: BaseException) -> JournalError:
        """One line a person can act on, from a Storage (or credential, or network) error."""
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.core.exceptions import (
                ClientAuthenticationError,
                HttpResponseError,
                ServiceRequestError,
            )

        where = f"journal {self.path}"
        code = _code(exc)
        status = getattr(exc, "status_code", None)
        message = one_line(getattr(exc, "message", None) or exc).split(" RequestId:")[0]
        if code == "ContainerNotFound":
            return JournalError(f"{where}: container '{self.location.container}' does not exist in storage "
                                f"account '{self.location.account}'; create it (or correct the URL)")
        if code == "ResourceNotFound":  # path style: no such account behind that endpoint
            return JournalError(f"{where}: no storage account '{self.location.account}' at "
                                f"{self.location.account_url}; correct the URL")
        if status in (401, 403) or code.startswith(("Authorization", "Authentication", "InvalidAuthentication")):
            return JournalPermissionError(
                f"{where}: {what}: {code or status} ({message}); the identity needs the data role "
                f"'Storage Blob Data Contributor' on container '{self.location.container}'")
        if isinstance(exc, ClientAuthenticationError):  # no token at all (no managed identity here)
            return JournalPermissionError(f"{where}: {what}: cannot get a Storage token: {message}")
        if isinstance(exc, ServiceRequestError):
            return JournalError(f"{where}: cannot reach {self.location.account_url}: {message}")
        if isinstance(exc, HttpResponseError):
            return JournalError(f"{where}: {what}: {code or status}: {message}")
        return JournalError(f"{where}: {what}: {type(exc).__name__}: {message}")

    def _call(self, what: str, action: Callable[[], T]) -> T:
        """Run one Storage call; conflicts become :class:`_Conflict`, leases :class:`_Leased`, a missing
        blob :class:`_Missing`, the rest a :class:`JournalError`."""
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.core.exceptions import AzureError, HttpResponseError

        try:
            return action()
        except HttpResponseError as exc:
            code = _code(exc)
            if exc.status_code == 404 and code in ("BlobNotFound", ""):  # not ContainerNotFound, ResourceNotFound
                raise _Missing(code) from exc
            if code in ("ConditionNotMet", "BlobAlreadyExists") or exc.status_code == 412 and not code:
                raise _Conflict(code) from exc
            if code.startswith("LeaseIdMissing") or code in ("LeaseAlreadyPresent", "LeaseIdMismatchWithBlobOperation"):
                raise _Leased(code) from exc
            raise self._fail(what, exc) from exc
        except AzureError as exc:
            raise self._fail(what, exc) from exc

    def _read(self, relative: str, *, with_date: bool = False) -> tuple[dict[str, Any], str, Any] | None:
        """``(body, etag, properties)`` of a JSON blob (properties gain ``server_date``), None when absent."""
        seen: dict[str, Any] = {}

        def hook(response: Any) -> None:
            seen["date"] = response.http_response.headers.get("Date")

        def get() -> Any:
            return self._client(relative).download_blob(**({"raw_response_hook": hook} if with_date else {}))

        try:
            downloader = self._call(f"cannot read {relative}", get)
            data = self._call(f"cannot read {relative}", downloader.readall)
        except _Missing:
            return None
        props = downloader.properties
        if with_date and seen.get("date"):
            props["server_date"] = parsedate_to_datetime(seen["date"])
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise JournalError(f"journal {self.path}: {relative} is not an azbackup-fix journal record") from exc
        return body, props.etag, props

    def _write(self, relative: str, body: dict[str, Any], *, etag: str | None, lease: Any = None,
               metadata: dict[str, str] | None = None) -> str:
        """Create (``etag=None``: If-None-Match *) or replace (If-Match ``etag``) a JSON blob; its new ETag."""
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        settings = self._blob.ContentSettings(content_type="application/json")
        condition = (dict(match_condition=self._match.IfMissing) if etag is None
                     else dict(etag=etag, match_condition=self._match.IfNotModified))

        def put() -> Any:
            return self._client(relative).upload_blob(data, overwrite=etag is not None, metadata=metadata,
                                                      content_settings=settings, lease=lease, **condition)

        return str(self._call(f"cannot write {relative}", put)["etag"])

    def _list(self, relative_prefix: str) -> list[Any]:
        def names() -> list[Any]:
            return list(self._container.list_blobs(name_starts_with=self._name(relative_prefix),
                                                   include=["metadata"]))

        return self._call(f"cannot list {relative_prefix}", names)

    def _relative(self, name: str) -> str:
        return name[len(self.location.prefix):]

    # -- lifecycle ------------------------------------------------------------------------------

    def _check_marker(self) -> None:
        """Read the marker: a missing container or data role is one line now, before any work."""
        found = self._read("journal.json")
        if found is None:
            return  # a new journal: the marker is written with the first run
        body = found[0]
        if body.get("kind") != _KIND:
            raise JournalError(f"journal {self.path}: journal.json there is not an azbackup-fix journal")
        if int(body.get("schema", 0)) > BLOB_SCHEMA_VERSION:
            raise JournalError(f"journal {self.path}: schema {body['schema']} is newer than this azbackup-fix "
                               f"understands ({BLOB_SCHEMA_VERSION}); upgrade azbackup-fix")
        self._marked = True

    def _ensure_marker(self) -> None:
        if self._marked:
            return
        try:
            self._write("journal.json", {"kind": _KIND, "schema": BLOB_SCHEMA_VERSION, "created_at": _stamp()},
                        etag=None)
        except _Conflict:
            self._check_marker()  # created by someone else meanwhile: check it is ours
        self._marked = True

    def close(self) -> None:
        """Stop heartbeating, release leases; runs still open count as dead from now on (as with the file)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=HEARTBEAT_SECONDS)
        with self._mutex:
            for name in list(self._leases):
                self._release(name)
            for run_id in list(self._held):
                try:
                    self._mark_dead_run(run_id)
                except JournalError:
                    pass  # unreachable now: the grace period makes it dead all the same
            self._held.clear()
        self._container.close()

    def progress_store(self) -> Any:
        """Fleet scan progress in this container (resume and shards work across workers)."""
        from .blob_progress import BlobProgressStore

        return BlobProgressStore(self)

    # -- heartbeat ------------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._beat is None or not self._beat.is_alive():
            self._stop.clear()
            self._beat = threading.Thread(target=self._heartbeat_loop, name="azbf-journal-heartbeat", daemon=True)
            self._beat.start()

    def _heartbeat_loop(self) -> None:
        interval = max(0.5, min(HEARTBEAT_SECONDS, self.grace_seconds / 4 or HEARTBEAT_SECONDS))
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the grace period absorbs it
                continue

    def heartbeat(self) -> None:
        """Rewrite each held run's blob (it is alive) and renew the entry leases (called by a thread)."""
        with self._mutex:
            for run_id in list(self._held):
                self._beat_run(run_id)
            for name, (_run, lease) in list(self._leases.items()):
                try:
                    self._call("cannot renew a lease", lease.renew)
                except (JournalError, _Conflict, _Leased):
                    self._leases.pop(name, None)  # lost: the entry is someone else's to restore now

    def _beat_run(self, run_id: str) -> None:
        found = self._read(f"runs/{run_id}.json")
        if found is None or found[0].get("status") != "running":
            self._held.pop(run_id, None)  # declared dead by another worker: this process may not go on
            return
        body, etag, _ = found
        try:
            self._held[run_id] = self._write(f"runs/{run_id}.json", {**body, "heartbeat_at": _stamp()}, etag=etag,
                                             metadata={"status": "running"})
        except _Conflict:
            pass  # written meanwhile (marked interrupted?): the next beat reads it again

    # -- runs -----------------------------------------------------------------------------------

    def _require_running(self, run_id: str) -> None:
        if run_id not in self._held:
            raise JournalError(f"journal {self.path}: run '{run_id}' is not running in this process "
                               "(finished, or declared dead after missing heartbeats)")

    def _run_active(self, run_id: str) -> bool:
        """Is the run alive? Its blob says running and was written within the grace period (Storage time)."""
        if run_id in self._held:
            return True
        found = self._read(f"runs/{run_id}.json", with_date=True)
        if found is None or found[0].get("status") != "running":
            return False
        props = found[2]
        now = props.get("server_date") or _now()
        return (now - props.last_modified).total_seconds() < self.grace_seconds

    def start_run(self, *, command: str, targets: Sequence[str]) -> str:
        """Open a run; it counts as active while this process heartbeats it."""
        self._ensure_marker()
        run_id = f"{_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        body = {"run_id": run_id, "command": command, "targets": [str(t) for t in targets], "status": "running",
                "pid": os.getpid(), "host": socket.gethostname(), "started_at": _stamp(), "finished_at": None,
                "heartbeat_at": _stamp()}
        with self._mutex:
            try:
                self._held[run_id] = self._write(f"runs/{run_id}.json", body, etag=None,
                                                 metadata={"status": "running"})
            except _Conflict:
                raise JournalError(f"journal {self.path}: run id collision, try again") from None
            self._start_heartbeat()
        return run_id

    def finish_run(self, run_id: str, *, status: str) -> None:
        """Close the run with ``status``; its pending entries stay pending, its leases are released."""
        with self._mutex:
            self._require_running(run_id)
            for _ in range(_RETRIES):
                found = self._read(f"runs/{run_id}.json")
                if found is None:
                    raise JournalError(f"journal {self.path}: no run '{run_id}'")
                body, etag, _ = found
                try:
                    self._write(f"runs/{run_id}.json", {**body, "status": status, "finished_at": _stamp()},
                                etag=etag, metadata={"status": status})
                    break
                except _Conflict:
                    continue
            self._held.pop(run_id, None)
            for name, (owner, _lease) in list(self._leases.items()):
                if owner == run_id:
                    self._release(name)
            if not self._held:
                self._stop.set()

    def _mark_dead_run(self, run_id: str) -> None:
        found = self._read(f"runs/{run_id}.json")
        if found is None or found[0].get("status") != "running":
            return
        body, etag, _ = found
        try:
            self._write(f"runs/{run_id}.json", {**body, "status": "interrupted", "finished_at": _stamp()},
                        etag=etag, metadata={"status": "interrupted"})
        except _Conflict:
            pass  # it beat meanwhile (alive after all) or someone else marked it

    def runs(self) -> tuple[RunInfo, ...]:
        out = []
        for item in self._list("runs/"):
            found = self._read(self._relative(item.name))
            if found is None:
                continue
            b = found[0]
            out.append(RunInfo(b["run_id"], b["command"], tuple(b["targets"]), b["status"],
                               _parse(b["started_at"]), _parse(b.get("finished_at")),  # type: ignore[arg-type]
                               b.get("pid"), b.get("host"), b["status"] == "running" and self._run_active(b["run_id"])))
        return tuple(sorted(out, key=lambda r: (r.started_at, r.run_id)))

    # -- lock entries ---------------------------------------------------------------------------

    def _next_entry_id(self) -> int:
        for _ in range(_RETRIES):
            found = self._read("ids/entry")
            last = int(found[0]["last"]) if found else 0
            try:
                self._write("ids/entry", {"last": last + 1}, etag=found[1] if found else None)
            except _Conflict:
                continue
            return last + 1
        raise JournalError(f"journal {self.path}: too much contention on the entry counter, try again")

    @staticmethod
    def _meta(body: dict[str, Any]) -> dict[str, str]:
        return {"entry": str(body["entry_id"]), "state": body["state"], "run": body["run_id"]}

    def _latest(self, key_hash: str) -> tuple[str, int, dict[str, Any], str] | None:
        items = sorted(self._list(f"locks/{key_hash}/"), key=lambda b: b.name)
        if not items:
            return None
        relative = self._relative(items[-1].name)
        found = self._read(relative)
        if found is None:
            return None
        generation = int(relative.rsplit("/", 1)[-1].split(".")[0])
        self._names[int(found[0]["entry_id"])] = relative
        return relative, generation, found[0], found[1]

    def _entry(self, entry_id: int) -> tuple[str, dict[str, Any], str]:
        name = self._names.get(entry_id)
        if name is None:
            for item in self._list("locks/"):
                if (item.metadata or {}).get("entry") == str(entry_id):
                    name = self._names[entry_id] = self._relative(item.name)
                    break
        found = self._read(name) if name else None
        if found is None:
            raise JournalError(f"journal {self.path}: no lock entry {entry_id}")
        return name, found[0], found[1]  # type: ignore[return-value]

    def _entries(self, states: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any], str]]:
        """Entries in ``states`` (filtered on listing metadata, confirmed on the body), by entry id."""
        items = [i for i in self._list("locks/") if (i.metadata or {}).get("state") in states]
        for item in sorted(items, key=lambda i: int((i.metadata or {}).get("entry", 0))):
            relative = self._relative(item.name)
            found = self._read(relative)
            if found is not None and found[0]["state"] in states:
                self._names[int(found[0]["entry_id"])] = relative
                yield relative, found[0], found[1]

    @staticmethod
    def _pending(body: dict[str, Any]) -> PendingLock:
        return PendingLock(int(body["entry_id"]), body["run_id"], Lock.from_dict(body["lock"]), body["state"],
                           _parse(body["recorded_at"]))  # type: ignore[arg-type]

    def record_lock_removal(self, run_id: str, lock: Lock) -> int:
        """Journal ``lock`` before deleting it (create-only: durable on return); the entry id.

        Raises :class:`LockInUseError` when another active run, or a recovery, holds this lock's entry.
        """
        key_hash = _key_hash(lock.ref.id)
        data = lock.to_dict()
        with self._mutex:
            self._require_running(run_id)
            for _ in range(_RETRIES):
                latest = self._latest(key_hash)
                if latest is not None and latest[2]["state"] in PENDING_STATES:
                    relative, _gen, body, etag = latest
                    owner, entry_id = body["run_id"], int(body["entry_id"])
                    if owner == run_id:
                        return entry_id
                    if self._run_active(owner):
                        raise LockInUseError(f"lock {lock.ref.id} is journaled by run {owner}, which is still "
                                             "active; not touching it", lock_id=lock.ref.id, run_id=owner)
                    now = _stamp()
                    adopted = {**body, "run_id": run_id, "lock": data, "state": "recorded", "recorded_at": now,
                               "updated_at": now}
                    try:
                        self._write(relative, adopted, etag=etag, metadata=self._meta(adopted))
                    except _Conflict:
                        continue
                    except _Leased:
                        raise LockInUseError(f"lock {lock.ref.id} is being restored by a recovery; not touching it",
                                             lock_id=lock.ref.id, run_id=owner) from None
                    self._mark_dead_run(owner)
                    self._add_change(run_id, "lock-recorded", lock.ref.id,
                                     f"entry {entry_id} adopted from dead run {owner}; level {lock.level.value}")
                    return entry_id
                generation = latest[1] + 1 if latest is not None else 1
                entry_id = self._next_entry_id()
                now = _stamp()
                body = {"entry_id": entry_id, "run_id": run_id, "lock_key": lock.ref.id.casefold(), "lock": data,
                        "state": "recorded", "recorded_at": now, "updated_at": now}
                relative = f"locks/{key_hash}/{generation:08d}.json"
                try:
                    self._write(relative, body, etag=None, metadata=self._meta(body))
                except _Conflict:
                    continue  # another run created this generation first: decide again on what it wrote
                self._names[entry_id] = relative
                self._add_change(run_id, "lock-recorded", lock.ref.id, f"entry {entry_id}; level {lock.level.value}")
                return entry_id
        raise JournalError(f"journal {self.path}: too much contention on lock {lock.ref.id}, try again")

    def _transition(self, entry_id: int, to: str, allowed: tuple[str, ...]) -> None:
        with self._mutex:
            for _ in range(_RETRIES):
                relative, body, etag = self._entry(entry_id)
                state = body["state"]
                if state == to:
                    return  # idempotent
                if state not in allowed:
                    raise JournalError(f"journal {self.path}: lock entry {entry_id} is {state}, cannot become {to}")
                lease = self._leases.get(relative, (None, None))[1]
                new = {**body, "state": to, "updated_at": _stamp()}
                try:
                    self._write(relative, new, etag=etag, lease=lease, metadata=self._meta(new))
                except _Conflict:
                    continue
                except _Leased:
                    raise JournalError(f"journal {self.path}: lock entry {entry_id} is leased by a recovery "
                                       "in another process") from None
                self._add_change(body["run_id"], f"lock-{to}", body["lock"]["id"], f"entry {entry_id}")
                if to not in PENDING_STATES:
                    self._release(relative)
                return
        raise JournalError(f"journal {self.path}: too much contention on lock entry {entry_id}, try again")

    def mark_left_removed(self, entry_id: int, *, reason: str) -> None:
        """The user asked to leave this removed lock removed (see the SQLite journal)."""
        self._transition(entry_id, "left-removed", ("removed",))
        _name, body, _etag = self._entry(entry_id)
        self._add_change(body["run_id"], "lock-left-removed", body["lock"]["id"], f"entry {entry_id}: {reason}")

    def left_locks(self) -> tuple[LeftLock, ...]:
        """Locks left removed on purpose and not put back since, oldest first."""
        return tuple(LeftLock(int(b["entry_id"]), b["run_id"], Lock.from_dict(b["lock"]),
                              _parse(b["updated_at"]))  # type: ignore[arg-type]
                     for _n, b, _e in self._entries(("left-removed",)))

    def pending_locks(self) -> tuple[PendingLock, ...]:
        """Every entry whose lock may be missing, oldest first (whatever run owns it)."""
        return tuple(self._pending(b) for _n, b, _e in self._entries(PENDING_STATES))

    def _release(self, relative: str) -> None:
        held = self._leases.pop(relative, None)
        if held is not None:
            try:
                self._call("cannot release a lease", held[1].release)
            except (JournalError, _Conflict, _Leased):
                pass  # it expires on its own within LEASE_SECONDS

    def claim_pending(
        self, run_id: str, *, subscription: str | None = None
    ) -> tuple[tuple[PendingLock, ...], tuple[PendingLock, ...]]:
        """Take over, for restoring, every pending entry not held by another active run or recovery
        (only locks in ``subscription`` when given): ``(claimed, held)``. Each claimed entry is leased
        by this object until it is marked restored or the run finishes, so two recoveries, on any
        workers, never restore the same entry."""
        claimed: list[PendingLock] = []
        held: list[PendingLock] = []
        verdict: dict[str, bool] = {}

        def active(owner: str) -> bool:
            if owner not in verdict:
                verdict[owner] = self._run_active(owner)
            return verdict[owner]

        with self._mutex:
            self._require_running(run_id)
            for relative, body, _etag in list(self._entries(PENDING_STATES)):
                pending = self._pending(body)
                if subscription is not None and \
                        pending.lock.ref.scope.subscription.casefold() != subscription.casefold():
                    continue
                if body["run_id"] != run_id and active(body["run_id"]):
                    held.append(pending)
                    continue
                if relative not in self._leases:
                    try:
                        lease = self._call("cannot lease a lock entry",
                                           lambda r=relative: self._client(r).acquire_lease(lease_duration=LEASE_SECONDS))
                    except (_Leased, _Conflict):
                        held.append(pending)  # another recovery is restoring it right now
                        continue
                    self._leases[relative] = (run_id, lease)
                # Under the lease, decide again on what is there now.
                found = self._read(relative)
                if found is None or found[0]["state"] not in PENDING_STATES:
                    self._release(relative)  # restored meanwhile
                    continue
                body, etag, _ = found
                owner = body["run_id"]
                if owner != run_id:
                    if active(owner):
                        self._release(relative)
                        held.append(self._pending(body))
                        continue
                    taken = {**body, "run_id": run_id, "updated_at": _stamp()}
                    try:
                        self._write(relative, taken, etag=etag, lease=self._leases[relative][1],
                                    metadata=self._meta(taken))
                    except (_Conflict, _Leased):
                        self._release(relative)
                        held.append(self._pending(body))
                        continue
                    self._mark_dead_run(owner)
                    self._add_change(run_id, "lock-claimed", body["lock"]["id"],
                                     f"entry {body['entry_id']} from dead run {owner}")
                    body = taken
                claimed.append(self._pending(body))
        return tuple(claimed), tuple(held)

    # -- audit trail ----------------------------------------------------------------------------

    def _append(self, folder: str, line: dict[str, Any]) -> None:
        """One JSON line on the folder's current append blob (a new segment when one is full)."""
        data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode()
        with self._mutex:
            segment = self._segments.get(folder)
            if segment is None:
                names = sorted(i.name for i in self._list(folder))
                segment = int(names[-1].rsplit("/", 1)[-1].split(".")[0]) if names else 1
            for _ in range(_RETRIES):
                client = self._client(f"{folder}{segment:06d}.jsonl")
                try:
                    self._call("cannot append", lambda c=client: c.append_block(data))
                except _Missing:
                    try:
                        self._call("cannot create an append blob", lambda c=client: c.create_append_blob(
                            match_condition=self._match.IfMissing))
                    except _Conflict:
                        pass  # created by another writer meanwhile
                    continue
                except JournalError as exc:
                    if exc.__cause__ is not None and _code(exc.__cause__) == "BlockCountExceedsLimit":
                        segment += 1  # 50,000 blocks: go on in the next segment
                        continue
                    raise
                self._segments[folder] = segment
                return
        raise JournalError(f"journal {self.path}: cannot append to {folder}")

    def _read_lines(self, folder: str) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for item in sorted(self._list(folder), key=lambda i: i.name):
            client = self._container.get_blob_client(item.name)
            text = self._call("cannot read the audit trail", lambda c=client: c.download_blob().readall())
            lines += [json.loads(row) for row in text.decode().splitlines() if row.strip()]
        return lines

    def _add_change(self, run_id: str, action: str, target: str, detail: str) -> None:
        with self._mutex:
            self._seq += 1
            seq = self._seq
        self._append(f"changes/{quote(action, safe='')}/", {
            "run_id": run_id, "at": _stamp(), "seq": seq, "action": one_line(action), "target": one_line(target),
            "detail": one_line(detail)})

    @staticmethod
    def _changes(lines: list[dict[str, Any]]) -> tuple[Change, ...]:
        # Ids are positions in this answer: blobs have no global sequence (SQLite's are row ids).
        ordered = sorted(lines, key=lambda c: (c["at"], c["run_id"], c["seq"]))
        return tuple(Change(i, c["run_id"], _parse(c["at"]), c["action"], c["target"], c["detail"])  # type: ignore[arg-type]
                     for i, c in enumerate(ordered, start=1))

    def record_change(self, run_id: str, *, action: str, target: str, detail: str) -> None:
        """Append to the audit trail (secrets are masked; do not pass any); durable on return."""
        self._require_running(run_id)
        self._add_change(run_id, action, target, detail)

    def changes_by_action(self, action: str) -> tuple[Change, ...]:
        """Every run's audit entries of one action, in order (one folder of append blobs)."""
        return self._changes(self._read_lines(f"changes/{quote(action, safe='')}/"))

    def changes(self, run_id: str | None = None) -> tuple[Change, ...]:
        """The audit trail of one run (or of all runs), in order."""
        lines = self._read_lines("changes/")
        return self._changes([c for c in lines if run_id is None or c["run_id"] == run_id])

    def actions(self) -> tuple[str, ...]:
        """The actions the audit trail holds (its folders)."""
        return tuple(sorted({unquote(self._relative(i.name).split("/")[1]) for i in self._list("changes/")}))
