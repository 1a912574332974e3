"""``azbackup-fix playbooks``: the registry (id, error codes, destructive/disruptive, guard rail, RBAC actions, options)."""

from __future__ import annotations

import argparse
import json

from ...models.options import as_option
from ...playbooks import all_playbooks
from .. import exit_codes
from .base import Command, Io

__all__ = ["COMMAND"]


def _run(args: argparse.Namespace, io: Io) -> int:
    rows = [{
        "id": cls.id,
        "title": cls.title,
        "error_codes": list(cls.error_codes),
        "destructive": cls.destructive,
        "disruptive": cls.disruptive,
        "inspection_only": cls.inspection_only,
        "rail": cls.rail.name if cls.rail is not None else None,
        "actions": list(cls.actions),
        "options": {k: as_option(v).to_dict() for k, v in cls.options.items()},
    } for cls in all_playbooks()]
    if args.output == "json":
        io.out.write(json.dumps(rows, indent=2) + "\n")
        return exit_codes.OK
    for cls, row in zip(all_playbooks(), rows, strict=True):
        flags = [f.replace("_", " ") for f in ("destructive", "disruptive", "inspection_only") if row[f]]
        io.out.write(f"{row['id']}{' [' + ', '.join(flags) + ']' if flags else ''}: {row['title']}\n")
        io.out.write(f"  error codes: {', '.join(row['error_codes'])}\n")
        if cls.rail is not None:
            io.out.write(f"  needs {cls.rail.flag} for: {cls.rail.allows} (playbook-file key {cls.rail.name})\n")
        io.out.write(f"  actions: {', '.join(row['actions'])}\n")
    return exit_codes.OK


COMMAND = Command(
    name="playbooks",
    help="list the registered playbooks: error codes, destructive, RBAC actions",
    description=__doc__ or "",
    add_arguments=lambda parser: None,
    run=_run,
)
