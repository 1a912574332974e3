"""Run a parsed :class:`~.nodes.Script` over tables: rows in, rows out.

A :class:`Table` is its column names (in order) and its rows (dicts). Scalar expressions are compiled once
per operator against the input's columns, so a name that resolves to nothing is a ``SemanticError`` even
over an empty table, as in Kusto; the compiled function then runs per row."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import nodes as n
from .aggregates import AGGREGATES, FOLDS, default_name
from .errors import KqlError
from .functions import CLOCK_FUNCTIONS, FUNCTIONS, Clock, arithmetic, compare, in_list, truthy
from .values import group_key, to_json

__all__ = ["Table", "evaluate"]

Row = dict[str, Any]
Compiled = Callable[[Row], Any]
_COMPARE_OPS = frozenset({"==", "!=", "=~", "!~", "<", "<=", ">", ">=", "has", "!has", "has_cs", "!has_cs",
                          "contains", "!contains", "contains_cs", "!contains_cs", "startswith", "!startswith",
                          "startswith_cs", "!startswith_cs", "endswith", "!endswith", "endswith_cs",
                          "!endswith_cs"})
_NAMING_FUNCTIONS = frozenset({"tostring", "tolower", "toupper", "toint", "tolong", "todouble", "toreal",
                               "todatetime", "totimespan", "tobool", "todynamic", "parse_json"})


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """The rows as the answer's objectArray: every column, in order, JSON values."""
        return [{c: to_json(row.get(c)) for c in self.columns} for row in self.rows]


Source = Callable[[frozenset[str] | None], Table]


def evaluate(script: n.Script, tables: Mapping[str, Source], *, clock: Clock, text: str = "") -> Table:
    """``tables``: name (any case) -> a builder of the table's rows, called on first use with the ``type``
    values (lower-case) the query's first ``where`` keeps, or None for all: a hint that may let the builder
    skip rows; the ``where`` still filters what it returns."""
    return _Evaluator(tables, clock, text).run(script)


def _type_hint(op: n.Operator) -> frozenset[str] | None:
    return _types_kept(op.predicate) if isinstance(op, n.Where) else None


def _types_kept(expr: n.Expr) -> frozenset[str] | None:
    if isinstance(expr, n.Binary) and expr.op == "and":
        return _types_kept(expr.left) or _types_kept(expr.right)
    if isinstance(expr, n.Binary) and expr.op in ("==", "=~") and expr.left == n.Column("type", expr.left.pos) \
            and isinstance(expr.right, n.Literal) and isinstance(expr.right.value, str):
        return frozenset({expr.right.value.lower()})
    if isinstance(expr, n.InList) and expr.op in ("in", "in~") and expr.left == n.Column("type", expr.left.pos) \
            and all(isinstance(i, n.Literal) and isinstance(i.value, str) for i in expr.items):
        return frozenset(str(i.value).lower() for i in expr.items if isinstance(i, n.Literal))
    return None


class _Evaluator:
    def __init__(self, tables: Mapping[str, Source], clock: Clock, text: str) -> None:
        self.sources = {name.lower(): build for name, build in tables.items()}
        self.names = sorted(tables)
        self.built: dict[tuple[str, frozenset[str] | None], Table] = {}
        self.clock = clock
        self.text = text
        self.tabular_lets: dict[str, n.Query] = {}
        self.scalar_lets: dict[str, Any] = {}

    def error(self, message: str, pos: int, token: str = "", code: str = "SemanticError") -> KqlError:
        return KqlError(message, code=code, text=self.text, position=pos, token=token)

    # ---- statements and tables --------------------------------------------------------------------
    def run(self, script: n.Script) -> Table:
        for let in script.lets:
            if isinstance(let.value, n.Query):
                self.tabular_lets[let.name] = let.value
            else:
                self.scalar_lets[let.name] = self.compile(let.value, ())({})
        return self.query(script.query)

    def table(self, ref: n.TableRef, types: frozenset[str] | None = None) -> Table:
        if ref.name in self.tabular_lets:
            return self.query(self.tabular_lets[ref.name])
        name = ref.name.lower()
        if name not in self.sources:
            raise self.error(f"Table '{ref.name}' could not be found (tables: {', '.join(self.names)})",
                             ref.pos, ref.name)
        key = (name, types)
        if key not in self.built:
            self.built[key] = self.sources[name](types)
        built = self.built[key]
        return Table(built.columns, list(built.rows))

    def query(self, query: n.Query) -> Table:
        table = self.table(query.source, _type_hint(query.operators[0]) if query.operators else None)
        for op in query.operators:
            table = self.apply(op, table)
        return table

    def apply(self, op: n.Operator, table: Table) -> Table:
        handler = getattr(self, f"_op_{type(op).__name__.lower()}")
        return handler(op, table)  # type: ignore[no-any-return]

    # ---- operators --------------------------------------------------------------------------------
    def _op_where(self, op: n.Where, table: Table) -> Table:
        predicate = self.compile(op.predicate, table.columns)
        return Table(table.columns, [r for r in table.rows if truthy(predicate(r))])

    def _op_project(self, op: n.Project, table: Table) -> Table:
        outputs = self._outputs(op.columns, table.columns)
        columns = _unique([name for name, _ in outputs])
        rows = [{name: fn(r) for name, fn in outputs} for r in table.rows]
        return Table(tuple(columns), rows)

    def _op_extend(self, op: n.Extend, table: Table) -> Table:
        columns = list(table.columns)
        steps: list[tuple[str, Compiled]] = []
        for i, item in enumerate(op.columns):
            name = item.name or _auto_name(item.expr) or f"Column{i + 1}"
            steps.append((name, self.compile(item.expr, tuple(columns))))
            if name not in columns:
                columns.append(name)
        rows = []
        for row in table.rows:
            out = dict(row)
            for name, fn in steps:
                out[name] = fn(out)
            rows.append(out)
        return Table(tuple(columns), rows)

    def _op_projectaway(self, op: n.ProjectAway, table: Table) -> Table:
        drop: set[str] = set()
        for name in op.names:
            if name.endswith("*"):
                drop |= {c for c in table.columns if c.startswith(name[:-1])}
            elif name in table.columns:
                drop.add(name)
            else:
                raise self.error(f"project-away: column '{name}' does not exist", op.pos, name)
        columns = tuple(c for c in table.columns if c not in drop)
        return Table(columns, [{c: r.get(c) for c in columns} for r in table.rows])

    def _op_projectrename(self, op: n.ProjectRename, table: Table) -> Table:
        mapping = {}
        for new, old in op.renames:
            if old not in table.columns:
                raise self.error(f"project-rename: column '{old}' does not exist", op.pos, old)
            mapping[old] = new
        columns = tuple(mapping.get(c, c) for c in table.columns)
        return Table(columns, [{mapping.get(k, k): v for k, v in r.items()} for r in table.rows])

    def _op_take(self, op: n.Take, table: Table) -> Table:
        return Table(table.columns, table.rows[:op.count])

    def _op_count(self, op: n.Count, table: Table) -> Table:
        return Table(("Count",), [{"Count": len(table.rows)}])

    def _op_distinct(self, op: n.Distinct, table: Table) -> Table:
        columns = op.columns or table.columns
        for name in columns:
            if name not in table.columns:
                raise self.error(f"distinct: column '{name}' does not exist", op.pos, name)
        seen: set[tuple[Any, ...]] = set()
        rows = []
        for row in table.rows:
            key = tuple(group_key(row.get(c)) for c in columns)
            if key not in seen:
                seen.add(key)
                rows.append({c: row.get(c) for c in columns})
        return Table(tuple(columns), rows)

    def _op_order(self, op: n.Order, table: Table) -> Table:
        return Table(table.columns, self._sorted(table, op.keys))

    def _op_top(self, op: n.Top, table: Table) -> Table:
        return Table(table.columns, self._sorted(table, op.keys)[:op.count])

    def _sorted(self, table: Table, keys: Sequence[n.SortKey]) -> list[Row]:
        rows = list(table.rows)
        for key in reversed(keys):
            fn = self.compile(key.expr, table.columns)
            nulls_first = (not key.descending) if key.nulls_first is None else key.nulls_first
            null_rank = 0 if nulls_first != key.descending else 2

            def sort_key(row: Row, fn: Compiled = fn, null_rank: int = null_rank) -> tuple[int, Any]:
                value = fn(row)
                return (null_rank, ()) if value is None else (1, _sortable(value))

            rows.sort(key=sort_key, reverse=key.descending)
        return rows

    def _op_mvexpand(self, op: n.MvExpand, table: Table) -> Table:
        expansions = []
        columns = list(table.columns)
        for i, item in enumerate(op.columns):
            name = item.name or _auto_name(item.expr) or f"Column{i + 1}"
            expansions.append((name, self.compile(item.expr, table.columns)))
            if name not in columns:
                columns.append(name)
        rows = []
        for row in table.rows:
            lists = [_elements(fn(row)) for _, fn in expansions]
            for j in range(max((len(values) for values in lists), default=0)):
                out = dict(row)
                for (name, _), values in zip(expansions, lists, strict=True):
                    out[name] = values[j] if j < len(values) else None
                rows.append(out)
        return Table(tuple(columns), rows)

    def _op_join(self, op: n.Join, table: Table) -> Table:
        right = self.query(op.right)
        for left_key, right_key in op.keys:
            if left_key not in table.columns:
                raise self.error(f"join: the left side has no column '{left_key}'", op.pos, left_key)
            if right_key not in right.columns:
                raise self.error(f"join: the right side has no column '{right_key}'", op.pos, right_key)
        index: dict[tuple[Any, ...], list[Row]] = {}
        for row in right.rows:
            index.setdefault(tuple(group_key(row.get(r)) for _, r in op.keys), []).append(row)
        left_rows = table.rows
        if op.kind == "innerunique":
            seen: set[tuple[Any, ...]] = set()
            unique = []
            for row in left_rows:
                key = tuple(group_key(row.get(lk)) for lk, _ in op.keys)
                if key not in seen:
                    seen.add(key)
                    unique.append(row)
            left_rows = unique
        if op.kind in ("leftsemi", "leftanti"):
            keep = op.kind == "leftsemi"
            rows = [r for r in left_rows
                    if (tuple(group_key(r.get(lk)) for lk, _ in op.keys) in index) == keep]
            return Table(table.columns, rows)
        columns = list(table.columns)
        renamed: list[tuple[str, str]] = []
        for name in right.columns:
            new, k = name, 1
            while new in columns:
                new, k = f"{name}{k}", k + 1
            columns.append(new)
            renamed.append((name, new))
        rows = []
        for row in left_rows:
            matches = index.get(tuple(group_key(row.get(lk)) for lk, _ in op.keys), [])
            if not matches and op.kind == "leftouter":
                rows.append({**row, **{new: None for _, new in renamed}})
            for match in matches:
                rows.append({**row, **{new: match.get(old) for old, new in renamed}})
        return Table(tuple(columns), rows)

    def _op_summarize(self, op: n.Summarize, table: Table) -> Table:
        by = self._outputs(op.by, table.columns)
        by_names = [name for name, _ in by]
        groups: dict[tuple[Any, ...], tuple[list[Any], list[Row]]] = {}
        for row in table.rows:
            values = [fn(row) for _, fn in by]
            key = tuple(group_key(v) for v in values)
            groups.setdefault(key, (values, []))[1].append(row)
        if not by and not groups:
            groups[()] = ([], [])
        plans = [self._aggregate(item, table.columns, by_names, i) for i, item in enumerate(op.aggregates)]
        columns = _unique(by_names + [c for plan in plans for c in plan[0]])
        rows = []
        for values, members in groups.values():
            out: list[Any] = list(values)
            for _, fold in plans:
                out.extend(fold(members))
            rows.append(dict(zip(columns, out, strict=True)))
        return Table(tuple(columns), rows)

    def _aggregate(self, item: n.Named, columns: tuple[str, ...], by_names: list[str],
                   index: int) -> tuple[list[str], Callable[[list[Row]], list[Any]]]:
        call = item.expr
        if not isinstance(call, n.Call) or call.name not in AGGREGATES:
            pos = getattr(call, "pos", -1)
            raise self.error("summarize expects aggregation functions (count, countif, dcount, make_set, "
                             "make_list, arg_max, arg_min, min, max, sum, avg)", pos)
        low, high, _ = AGGREGATES[call.name]
        if len(call.args) < low or (high is not None and len(call.args) > high):
            raise self.error(f"{call.name}(): wrong number of arguments", call.pos, call.name)
        if call.name == "count":
            return [item.name or default_name("count", None)], lambda rows: [len(rows)]
        first = call.args[0]
        if call.name in ("arg_max", "arg_min"):
            return self._arg_extreme(item, call, columns, by_names)
        fn = self.compile(first, columns)
        extra = [self.compile(a, ())({}) for a in call.args[1:]]
        fold = FOLDS[call.name]
        name = item.name or default_name(call.name, _auto_name(first) or f"Column{index + 1}")
        return [name], lambda rows: [fold([fn(r) for r in rows], *extra)]

    def _arg_extreme(self, item: n.Named, call: n.Call, columns: tuple[str, ...],
                     by_names: list[str]) -> tuple[list[str], Callable[[list[Row]], list[Any]]]:
        target = call.args[0]
        fn = self.compile(target, columns)
        target_name = item.name or _auto_name(target) or default_name(call.name, "")
        picks: list[tuple[str, Compiled]] = []
        for arg in call.args[1:]:
            if isinstance(arg, n.Star):
                picks += [(c, _getter(c)) for c in columns
                          if c not in by_names and c != target_name and c not in {p for p, _ in picks}]
            else:
                picks.append((_auto_name(arg) or f"Column{len(picks) + 1}", self.compile(arg, columns)))
        op = ">" if call.name == "arg_max" else "<"

        def fold(rows: list[Row]) -> list[Any]:
            best: Row | None = None
            best_value: Any = None
            for row in rows:
                value = fn(row)
                if value is None:
                    continue
                if best is None or compare(op, value, best_value) is True:
                    best, best_value = row, value
            if best is None:
                return [None] * (1 + len(picks))
            return [best_value, *(pick(best) for _, pick in picks)]

        return [target_name, *(name for name, _ in picks)], fold

    def _outputs(self, items: Sequence[n.Named], columns: tuple[str, ...]) -> list[tuple[str, Compiled]]:
        outputs = []
        for i, item in enumerate(items):
            name = item.name or _auto_name(item.expr) or f"Column{i + 1}"
            outputs.append((name, self.compile(item.expr, columns)))
        return outputs

    # ---- scalar expressions -----------------------------------------------------------------------
    def compile(self, expr: n.Expr, columns: tuple[str, ...]) -> Compiled:
        if isinstance(expr, n.Literal):
            value = expr.value
            return lambda row: value
        if isinstance(expr, n.Column):
            name = expr.name
            if name in columns:
                return lambda row: row.get(name)
            if name in self.scalar_lets:
                constant = self.scalar_lets[name]
                return lambda row: constant
            raise self.error(f"Failed to resolve scalar expression named '{name}'", expr.pos, name)
        if isinstance(expr, n.Index):
            target = self.compile(expr.target, columns)
            key = self.compile(expr.key, columns)
            return lambda row: _index(target(row), key(row))
        if isinstance(expr, n.Unary):
            operand = self.compile(expr.operand, columns)
            return lambda row: arithmetic("*", operand(row), -1)
        if isinstance(expr, n.Binary):
            return self._binary(expr, columns)
        if isinstance(expr, n.InList):
            left = self.compile(expr.left, columns)
            items = [self.compile(i, columns) for i in expr.items]
            op = expr.op
            return lambda row: in_list(op, left(row), [i(row) for i in items])
        if isinstance(expr, n.Between):
            value, low, high = (self.compile(e, columns) for e in (expr.left, expr.low, expr.high))
            negated = expr.negated

            def between(row: Row) -> bool | None:
                v = value(row)
                inside = compare(">=", v, low(row)) is True and compare("<=", v, high(row)) is True
                return None if v is None else inside != negated

            return between
        if isinstance(expr, n.Star):
            raise self.error("'*' is allowed only in arg_max()/arg_min()", expr.pos, "*")
        return self._call(expr, columns)

    def _binary(self, expr: n.Binary, columns: tuple[str, ...]) -> Compiled:
        left = self.compile(expr.left, columns)
        right = self.compile(expr.right, columns)
        op = expr.op
        if op == "and":
            return lambda row: truthy(left(row)) and truthy(right(row))
        if op == "or":
            return lambda row: truthy(left(row)) or truthy(right(row))
        if op in _COMPARE_OPS:
            return lambda row: compare(op, left(row), right(row))
        return lambda row: arithmetic(op, left(row), right(row))

    def _call(self, call: n.Call, columns: tuple[str, ...]) -> Compiled:
        name = call.name
        if name in CLOCK_FUNCTIONS:
            clock = self.clock
            if name == "now":
                if len(call.args) > 1:
                    raise self.error("now(): at most one argument", call.pos, name)
                offset = self.compile(call.args[0], columns) if call.args else (lambda row: timedelta(0))
                return lambda row: _shift(clock(), offset(row), 1)
            if len(call.args) != 1:
                raise self.error("ago(): one argument", call.pos, name)
            span = self.compile(call.args[0], columns)
            return lambda row: _shift(clock(), span(row), -1)
        if name in AGGREGATES and name not in FUNCTIONS:
            raise self.error(f"{name}() is an aggregation: use it in summarize", call.pos, name)
        if name not in FUNCTIONS:
            raise self.error(f"'{name}' is not a known function", call.pos, name)
        low, high, fn = FUNCTIONS[name]
        if len(call.args) < low or (high is not None and len(call.args) > high):
            raise self.error(f"{name}(): wrong number of arguments", call.pos, name)
        args = [self.compile(a, columns) for a in call.args]
        return lambda row: fn(*(a(row) for a in args))


def _shift(now: datetime, span: Any, sign: int) -> datetime | None:
    if not isinstance(span, timedelta):
        return None
    return now + sign * span


def _getter(name: str) -> Compiled:
    return lambda row: row.get(name)


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, dict) and isinstance(key, str):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
        if -len(value) <= key < len(value):
            return value[key]
    return None


def _elements(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [{k: v} for k, v in value.items()]
    return [value]


def _auto_name(expr: n.Expr) -> str | None:
    """The column name Kusto gives an unnamed expression: a column's own name, ``properties_a_b`` for a
    path into a dynamic column, the argument's name through a conversion function."""
    if isinstance(expr, n.Column):
        return expr.name
    if isinstance(expr, n.Index):
        base = _auto_name(expr.target)
        if base is None or not isinstance(expr.key, n.Literal):
            return None
        return f"{base}_{expr.key.value}"
    if isinstance(expr, n.Call) and expr.name in _NAMING_FUNCTIONS and len(expr.args) == 1:
        return _auto_name(expr.args[0])
    return None


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        new, k = name, 1
        while new in out:
            new, k = f"{name}{k}", k + 1
        out.append(new)
    return out


@functools.total_ordering
class _Mixed:
    """Orders values of different kinds (numbers < strings < datetimes < timespans < dynamic)."""

    __slots__ = ("rank", "value")

    def __init__(self, value: Any) -> None:
        if isinstance(value, bool):
            self.rank, self.value = 0, int(value)
        elif isinstance(value, (int, float)):
            self.rank, self.value = 0, value
        elif isinstance(value, str):
            self.rank, self.value = 1, value
        elif isinstance(value, datetime):
            self.rank, self.value = 2, value
        elif isinstance(value, timedelta):
            self.rank, self.value = 3, value
        else:
            self.rank, self.value = 4, str(group_key(value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Mixed) and (self.rank, self.value) == (other.rank, other.value)

    def __lt__(self, other: _Mixed) -> bool:
        return (self.rank, self.value) < (other.rank, other.value)

    def __hash__(self) -> int:
        return hash((self.rank, str(self.value)))


def _sortable(value: Any) -> _Mixed:
    return _Mixed(value)
