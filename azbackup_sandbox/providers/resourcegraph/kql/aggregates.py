"""The aggregation functions of ``summarize``: each folds one group's rows to one value (``arg_max``/``arg_min``
to a whole row, expanded into columns by the evaluator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .functions import compare, truthy
from .values import group_key

__all__ = ["AGGREGATES", "default_name"]

# name -> (min args, max args or None, output column prefix)
AGGREGATES: dict[str, tuple[int, int | None, str]] = {
    "count": (0, 0, "count_"),
    "countif": (1, 1, "countif_"),
    "dcount": (1, 2, "dcount_"),
    "make_set": (1, 2, "set_"),
    "make_list": (1, 2, "list_"),
    "min": (1, 1, "min_"),
    "max": (1, 1, "max_"),
    "sum": (1, 1, "sum_"),
    "avg": (1, 1, "avg_"),
    "any": (1, None, "any_"),
    "take_any": (1, None, "any_"),
    "arg_max": (1, None, "max_"),
    "arg_min": (1, None, "min_"),
}


def default_name(function: str, argument: str | None) -> str:
    """``count_``, ``countif_``, ``dcount_state``, ``set_state``, ``max_startTime``, ..."""
    prefix = AGGREGATES[function][2]
    if function in ("count", "countif"):
        return prefix
    return prefix + (argument or "")


def _extreme(values: list[Any], op: str) -> Any:
    best: Any = None
    for value in values:
        if value is None:
            continue
        if best is None or compare(op, value, best) is True:
            best = value
    return best


def _make_set(values: list[Any], limit: int | None = None) -> list[Any]:
    seen: set[Any] = set()
    out: list[Any] = []
    for value in values:
        if value is None:
            continue
        key = group_key(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out[:limit] if limit else out


def _sum(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) if numbers else None


def _avg(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else None


# Simple folds over one argument's values in the group (``count`` gets the group's size via its rows).
FOLDS: dict[str, Callable[..., Any]] = {
    "countif": lambda values: sum(1 for v in values if truthy(v)),
    "dcount": lambda values: len({group_key(v) for v in values if v is not None}),
    "make_set": _make_set,
    "make_list": lambda values, limit=None: [v for v in values if v is not None][:limit] if limit
    else [v for v in values if v is not None],
    "min": lambda values: _extreme(values, "<"),
    "max": lambda values: _extreme(values, ">"),
    "sum": _sum,
    "avg": _avg,
    "any": lambda values: next((v for v in values if v is not None), None),
    "take_any": lambda values: next((v for v in values if v is not None), None),
}
