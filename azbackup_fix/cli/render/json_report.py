"""JSON: the versioned diagnosis schema (``azbackup-fix/diagnosis/v1``, see docs/diagnosis-schema.md).

One ``--vm``: the diagnosis object. Several VMs (or all of a subscription): an array of them.
The shape depends only on the command line, never on the results.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ...models import Diagnosis

__all__ = ["render_json"]


def render_json(diagnoses: Sequence[Diagnosis], *, single: bool = False) -> str:
    if single and len(diagnoses) == 1:
        return json.dumps(diagnoses[0].to_dict(), indent=2)
    if single and not diagnoses:
        return "null"
    return json.dumps([d.to_dict() for d in diagnoses], indent=2)
