"""Scalar functions and operators: what ``tostring(x)``, ``a =~ b`` or ``t - 14d`` compute.

Functions take evaluated arguments (``iff`` too: evaluating both branches is harmless here). ``now()`` and
``ago()`` read the clock the evaluator is given (the sandbox's virtual clock)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .values import is_empty, parse_datetime, parse_timespan, to_string

__all__ = ["FUNCTIONS", "Clock", "arithmetic", "compare", "in_list", "truthy"]

Clock = Callable[[], datetime]
_Number = (int, float)


def truthy(value: Any) -> bool:
    return value is True


def _is_number(value: Any) -> bool:
    return isinstance(value, _Number) and not isinstance(value, bool)


def _has(haystack: str, needle: str) -> bool:
    """``has``: the needle is a whole term (bounded by non-alphanumerics), case-insensitive."""
    if not needle:
        return True
    haystack, needle = haystack.lower(), needle.lower()
    start = 0
    while True:
        at = haystack.find(needle, start)
        if at < 0:
            return False
        before = haystack[at - 1] if at > 0 else " "
        after = haystack[at + len(needle)] if at + len(needle) < len(haystack) else " "
        if not (before.isalnum() and needle[0].isalnum()) and not (after.isalnum() and needle[-1].isalnum()):
            return True
        start = at + 1


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "has": _has,
    "has_cs": lambda a, b: _has(a, b) and b in a,
    "contains": lambda a, b: b.lower() in a.lower(),
    "contains_cs": lambda a, b: b in a,
    "startswith": lambda a, b: a.lower().startswith(b.lower()),
    "startswith_cs": lambda a, b: a.startswith(b),
    "endswith": lambda a, b: a.lower().endswith(b.lower()),
    "endswith_cs": lambda a, b: a.endswith(b),
}


def _scalar_pair(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Operands made comparable, or None when they are not (null, or different kinds)."""
    if a is None or b is None:
        return None
    if isinstance(a, str) or isinstance(b, str):
        if isinstance(a, (datetime, timedelta)) or isinstance(b, (datetime, timedelta)):
            a2 = _coerce_like(a, b)
            b2 = _coerce_like(b, a)
            return (a2, b2) if a2 is not None and b2 is not None else None
        return to_string(a), to_string(b)
    if _is_number(a) and _is_number(b):
        return a, b
    if isinstance(a, bool) and isinstance(b, bool):
        return a, b
    if type(a) is type(b) or (isinstance(a, datetime) and isinstance(b, datetime)):
        return a, b
    return None


def _coerce_like(value: Any, other: Any) -> Any:
    if isinstance(value, str):
        if isinstance(other, datetime):
            return parse_datetime(value)
        if isinstance(other, timedelta):
            return parse_timespan(value)
    return value


def compare(op: str, a: Any, b: Any) -> bool | None:
    if op in ("=~", "!~"):
        if a is None and b is None:
            return None
        same = to_string(a).lower() == to_string(b).lower()
        return same if op == "=~" else not same
    base = op.lstrip("!")
    if base in _STRING_OPS:
        result = _STRING_OPS[base](to_string(a), to_string(b))
        return result if op == base else not result
    if op in ("==", "!="):
        if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            same = json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
            return same if op == "==" else not same
        if a is None or b is None:  # Kusto: null vs null is null; null vs a value is unequal
            return None if a is None and b is None else op == "!="
        pair = _scalar_pair(a, b)
        if pair is None:
            return op == "!="
        same = pair[0] == pair[1]
        return same if op == "==" else not same
    pair = _scalar_pair(a, b)
    if pair is None:
        return None
    x, y = pair
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    if op == ">":
        return x > y
    if op == ">=":
        return x >= y
    raise ValueError(op)


def in_list(op: str, value: Any, items: list[Any]) -> bool:
    flat: list[Any] = []
    for item in items:
        flat.extend(item if isinstance(item, list) else [item])
    if op in ("in~", "!in~"):
        text = to_string(value).lower()
        found = any(text == to_string(item).lower() for item in flat)
    else:
        found = any(compare("==", value, item) is True for item in flat)
    return found if not op.startswith("!") else not found


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, datetime):
        if isinstance(b, datetime) and op == "-":
            return a - b
        if isinstance(b, timedelta) and op in ("+", "-"):
            return a + b if op == "+" else a - b
        return None
    if isinstance(a, timedelta):
        if isinstance(b, datetime) and op == "+":
            return b + a
        if isinstance(b, timedelta):
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "/":
                return a / b if b else None
        if _is_number(b):
            if op == "*":
                return a * b
            if op == "/":
                return a / b if b else None
        return None
    if _is_number(a) and isinstance(b, timedelta) and op == "*":
        return b * a
    if not (_is_number(a) and _is_number(b)):
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return None if isinstance(a, int) and isinstance(b, int) else (math.inf if a > 0 else -math.inf)
        if isinstance(a, int) and isinstance(b, int):
            return int(a / b)  # long division truncates toward zero
        return a / b
    if op == "%":
        return math.fmod(a, b) if b else None
    raise ValueError(op)


# ---- functions ----------------------------------------------------------------------------------------
def _toint(value: Any) -> int | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else int(value)
    if isinstance(value, int):
        return value
    return None


def _todouble(value: Any) -> float | None:
    if value is None or isinstance(value, (dict, list, datetime, timedelta)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _todatetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def _totimespan(value: Any) -> timedelta | None:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_timespan(value)
    return None


def _tobool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if _is_number(value):
        return value != 0
    return None


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _split(value: Any, delimiter: Any, index: Any = None) -> Any:
    parts: list[Any] = to_string(value).split(to_string(delimiter)) if to_string(delimiter) else [to_string(value)]
    if index is None:
        return parts
    i = _toint(index)
    if i is None:
        return None
    if i < 0:
        i += len(parts)
    return [parts[i]] if 0 <= i < len(parts) else []


def _substring(value: Any, start: Any, length: Any = None) -> str:
    text = to_string(value)
    begin = max(_toint(start) or 0, 0)
    if length is None:
        return text[begin:]
    return text[begin:begin + max(_toint(length) or 0, 0)]


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None and v != ""), values[-1] if values else None)


def _array_length(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


def _bin(value: Any, size: Any) -> Any:
    if value is None or size is None:
        return None
    if isinstance(value, datetime) and isinstance(size, timedelta) and size:
        epoch = datetime(1970, 1, 1, tzinfo=value.tzinfo)
        return epoch + ((value - epoch) // size) * size
    if isinstance(value, timedelta) and isinstance(size, timedelta) and size:
        return (value // size) * size
    if _is_number(value) and _is_number(size) and size:
        result = math.floor(value / size) * size
        return int(result) if isinstance(value, int) and isinstance(size, int) else result
    return None


def _iff(condition: Any, then: Any, otherwise: Any) -> Any:
    return then if truthy(condition) else otherwise


def _not(value: Any) -> bool | None:
    return None if value is None else not truthy(value)


def _strcat(*values: Any) -> str:
    return "".join(to_string(v) for v in values)


# name -> (minimum arguments, maximum arguments or None, implementation); ``now``/``ago`` get the clock.
FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
    "tostring": (1, 1, to_string),
    "tolower": (1, 1, lambda v: to_string(v).lower()),
    "toupper": (1, 1, lambda v: to_string(v).upper()),
    "toint": (1, 1, _toint),
    "tolong": (1, 1, _toint),
    "todouble": (1, 1, _todouble),
    "toreal": (1, 1, _todouble),
    "tobool": (1, 1, _tobool),
    "toboolean": (1, 1, _tobool),
    "todatetime": (1, 1, _todatetime),
    "totimespan": (1, 1, _totimespan),
    "iff": (3, 3, _iff),
    "iif": (3, 3, _iff),
    "not": (1, 1, _not),
    "isempty": (1, 1, is_empty),
    "isnotempty": (1, 1, lambda v: not is_empty(v)),
    "isnull": (1, 1, lambda v: v is None),
    "isnotnull": (1, 1, lambda v: v is not None),
    "strcat": (1, 64, _strcat),
    "strlen": (1, 1, lambda v: len(to_string(v))),
    "substring": (2, 3, _substring),
    "split": (2, 3, _split),
    "parse_json": (1, 1, _parse_json),
    "todynamic": (1, 1, _parse_json),
    "coalesce": (1, 64, _coalesce),
    "array_length": (1, 1, _array_length),
    "pack_array": (0, 64, lambda *v: list(v)),
    "bin": (2, 2, _bin),
    "floor": (2, 2, _bin),
    "trim": (2, 2, lambda chars, v: re.sub(rf"^(?:{to_string(chars)})+|(?:{to_string(chars)})+$", "",
                                             to_string(v))),
}
CLOCK_FUNCTIONS = ("now", "ago")
