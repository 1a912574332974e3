"""Typed reading of one mapping of an estate document, with the field path in every error.

    fields = Fields(value, "subscriptions[0].vms[2]", ALLOWED_KEYS)   # an unknown key is an error
    state = fields.choice("powerState", POWER_STATES, default="running")

A mistake raises `EstateError` with one line: `<path>: expected <what>, got <value>`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from typing import Any

from ..core.timefmt import parse_time

__all__ = ["EstateError", "Fields", "MISSING", "as_list", "describe", "join_path"]


class EstateError(ValueError):
    """A bad estate document: `path: expected ..., got ...` (the source is prefixed by the loader)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"{path}: {message}" if path else message)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise EstateError(path, f"expected a list, got {describe(value)}")
    return value


class Fields:
    """The keys of one mapping, read with their types; a key outside `allowed` is an error."""

    def __init__(self, value: Any, path: str, allowed: Iterable[str]) -> None:
        if not isinstance(value, dict):
            raise EstateError(path, f"expected a mapping, got {describe(value)}")
        self.path = path
        self._value = value
        allowed = tuple(allowed)
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise EstateError(join_path(path, str(key)),
                                  f"unknown key (expected one of {', '.join(allowed)})")

    def has(self, key: str) -> bool:
        return key in self._value

    def at(self, key: str) -> str:
        return join_path(self.path, key)

    def raw(self, key: str, default: Any = MISSING) -> Any:
        if key not in self._value:
            if default is MISSING:
                raise EstateError(self.at(key), "required")
            return default
        return self._value[key]

    def text(self, key: str, default: Any = MISSING, *, allow_empty: bool = False) -> Any:
        value = self.raw(key, default)
        if key not in self._value or (value is None and default is None):
            return value
        if not isinstance(value, str) or (not value and not allow_empty):
            raise EstateError(self.at(key), f"expected a{'' if allow_empty else ' non-empty'} string, "
                                            f"got {describe(value)}")
        return value

    def integer(self, key: str, default: Any = MISSING, *, minimum: int | None = None,
            maximum: int | None = None) -> Any:
        value = self.raw(key, default)
        if key not in self._value or (value is None and default is None):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise EstateError(self.at(key), f"expected an integer, got {describe(value)}")
        if minimum is not None and value < minimum:
            raise EstateError(self.at(key), f"expected an integer >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise EstateError(self.at(key), f"expected an integer <= {maximum}, got {value}")
        return value

    def flag(self, key: str, default: Any = MISSING) -> Any:
        value = self.raw(key, default)
        if key not in self._value:
            return value
        if not isinstance(value, bool):
            raise EstateError(self.at(key), f"expected true or false, got {describe(value)}")
        return value

    def choice(self, key: str, choices: Iterable[str], default: Any = MISSING) -> Any:
        """One of `choices`, matched case-insensitively and returned in the listed spelling."""
        value = self.raw(key, default)
        if key not in self._value or (value is None and default is None):
            return value
        choices = tuple(choices)
        for choice in choices:
            if isinstance(value, str) and value.lower() == choice.lower():
                return choice
        shown = ", ".join(repr(c) if not c or " " in c else c for c in choices)
        raise EstateError(self.at(key), f"expected one of {shown}, got {describe(value)}")

    def time(self, key: str, default: Any = MISSING) -> Any:
        """An ISO 8601 time (UTC when no offset is given); YAML's own timestamps are accepted too."""
        value = self.raw(key, default)
        if key not in self._value or (value is None and default is None):
            return value
        return parse_when(value, self.at(key))

    def tags(self, key: str) -> dict[str, str]:
        value = self.raw(key, {})
        if not isinstance(value, dict):
            raise EstateError(self.at(key), f"expected a mapping of strings, got {describe(value)}")
        out: dict[str, str] = {}
        for name, text in value.items():
            if not isinstance(name, str) or not isinstance(text, (str, int, float)) or isinstance(text, bool):
                raise EstateError(join_path(self.at(key), str(name)), f"expected a string, got {describe(text)}")
            out[name] = str(text)
        return out

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.raw(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise EstateError(self.at(key), f"expected a mapping, got {describe(value)}")
        return dict(value)

    def items(self, key: str, *, required: bool = False) -> list[Any]:
        value = self.raw(key, MISSING if required else [])
        return as_list(value, self.at(key))


def parse_when(value: Any, path: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc)
    if isinstance(value, str):
        try:  # the common form first: strptime-based parsing is slow over a 10,000-VM fleet
            parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
        try:
            return parse_time(value)
        except ValueError:
            pass
    raise EstateError(path, f"expected an ISO 8601 time such as 2026-11-02T08:00:00Z, got {describe(value)}")
