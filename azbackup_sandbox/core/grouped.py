"""A state map keyed by (subscription, resource group, name) that also indexes its values by
subscription and by resource group, so a group's or a subscription's listing reads only its own
entries instead of scanning a fleet's 10,000 (the HTTPS server answers such lists per request)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

__all__ = ["GroupedDict"]

V = TypeVar("V")
Key = tuple[str, str, str]


class GroupedDict(dict[Key, V], Generic[V]):
    """A dict whose keys are lower-cased (subscription, group, name) triples; every change keeps the
    two indexes in step (all of dict's mutators go through ``__setitem__``/``__delitem__`` here)."""

    def __init__(self) -> None:
        super().__init__()
        self._by_group: dict[tuple[str, str], dict[Key, V]] = {}
        self._by_sub: dict[str, dict[Key, V]] = {}

    def __setitem__(self, key: Key, value: V) -> None:
        super().__setitem__(key, value)
        self._by_group.setdefault((key[0], key[1]), {})[key] = value
        self._by_sub.setdefault(key[0], {})[key] = value

    def __delitem__(self, key: Key) -> None:
        super().__delitem__(key)
        self._by_group.get((key[0], key[1]), {}).pop(key, None)
        self._by_sub.get(key[0], {}).pop(key, None)

    def pop(self, key: Key, *default: Any) -> Any:  # type: ignore[override]
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def setdefault(self, key: Key, default: V) -> V:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def popitem(self) -> tuple[Key, V]:
        key = next(reversed(self))
        return key, self.pop(key)

    def clear(self) -> None:
        super().clear()
        self._by_group.clear()
        self._by_sub.clear()

    def in_scope(self, subscription: str, group: str | None = None) -> Iterable[V]:
        """The values of one subscription (lower-cased id), or of one of its groups."""
        if group:
            return self._by_group.get((subscription, group), {}).values()
        return self._by_sub.get(subscription, {}).values()
