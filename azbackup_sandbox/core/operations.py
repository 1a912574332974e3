"""Long-running operations: the records behind Azure-AsyncOperation / Location polling URLs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import ArmError

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["Operation", "Operations"]


@dataclass
class Operation:
    id: str
    start: datetime
    done_at: datetime
    status: str = "InProgress"
    end: datetime | None = None
    error: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    # Free-form data for the provider that owns it (e.g. the job id a trigger created).
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


class Operations:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self._ops: dict[str, Operation] = {}

    def begin(
        self,
        seconds: float,
        complete: Callable[[Operation], dict[str, Any] | None] | None = None,
        *,
        on_forced_failure: Callable[[], None] | None = None,
        **data: Any,
    ) -> Operation:
        """Start an operation that completes `seconds` from now by calling `complete`.

        `complete` may raise ArmError to fail the operation; a pending injected LRO fault fails it too,
        and then `on_forced_failure` puts the resource back in a settled state."""
        now = self._sb.clock.now()
        op = Operation(self._sb.new_guid(), now, now + timedelta(seconds=seconds), data=dict(data))
        forced = self._sb.faults.take_lro_failure()
        self._ops[op.id] = op

        def finish() -> None:
            op.end = self._sb.clock.now()
            if forced is not None:
                op.status, op.error = "Failed", forced
                if on_forced_failure is not None:
                    on_forced_failure()  # settle what the start set (e.g. "Deleting"), as Azure does
                return
            try:
                op.properties = complete(op) if complete else None
                op.status = "Succeeded"
            except ArmError as exc:
                op.status = "Failed"
                op.error = {"code": exc.code, "message": exc.message}

        if seconds <= 0:
            finish()
        else:
            self._sb.scheduler.at(op.done_at, finish)
        return op

    def get(self, op_id: str) -> Operation:
        try:
            return self._ops[op_id]
        except KeyError:
            raise ArmError(404, "NotFound", f"Operation '{op_id}' was not found.") from None

    def find(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id)

    def clear(self) -> None:
        self._ops.clear()

    def status_body(self, op: Operation, time_format: Callable[[datetime], str]) -> dict[str, Any]:
        body: dict[str, Any] = {"startTime": time_format(op.start), "status": op.status, "name": op.id}
        if op.end is not None:
            body["endTime"] = time_format(op.end)
        if op.properties is not None:
            body["properties"] = op.properties
        if op.error is not None:
            body["error"] = op.error
        return body

    def __len__(self) -> int:
        return len(self._ops)
