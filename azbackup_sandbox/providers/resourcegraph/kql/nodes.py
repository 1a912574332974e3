"""The syntax tree of a query: scalar expressions and tabular operators, all frozen dataclasses.

Every node keeps ``pos``, its offset in the query text, so a semantic error can name where it is."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Between", "Binary", "Call", "Column", "Count", "Distinct", "Expr", "Extend", "InList", "Index", "Join",
    "Let", "Literal", "MvExpand", "Named", "Operator", "Order", "Project", "ProjectAway", "ProjectRename",
    "Query", "Script", "SortKey", "Star", "Summarize", "TableRef", "Take", "Top", "Unary", "Where",
]


# ---- scalar expressions -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Literal:
    value: object  # None, bool, int, float, str, datetime, timedelta, dict, list
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Index:
    """``target.name``, ``target['name']`` and ``target[0]``: access into a dynamic value."""

    target: Expr
    key: Expr
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # '-'
    operand: Expr
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # and, or, ==, !=, =~, !~, <, <=, >, >=, +, -, *, /, %, has, contains, startswith, ... and '!' forms
    left: Expr
    right: Expr
    pos: int = -1


@dataclass(frozen=True, slots=True)
class InList:
    op: str  # in, in~, !in, !in~
    left: Expr
    items: tuple[Expr, ...]
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Between:
    left: Expr
    low: Expr
    high: Expr
    negated: bool = False
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Star:
    """``*`` as an argument of ``arg_max``/``arg_min``: every column."""

    pos: int = -1


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    pos: int = -1


Expr = Literal | Column | Index | Unary | Binary | InList | Between | Star | Call


@dataclass(frozen=True, slots=True)
class Named:
    """An output column: ``name = expr``, or ``expr`` alone with ``name`` None (the column names itself)."""

    name: str | None
    expr: Expr


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Expr
    descending: bool = True
    nulls_first: bool | None = None


# ---- tabular operators --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Where:
    predicate: Expr
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Project:
    columns: tuple[Named, ...]
    pos: int = -1


@dataclass(frozen=True, slots=True)
class ProjectAway:
    names: tuple[str, ...]  # may end with '*' (a prefix)
    pos: int = -1


@dataclass(frozen=True, slots=True)
class ProjectRename:
    renames: tuple[tuple[str, str], ...]  # (new, old)
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Extend:
    columns: tuple[Named, ...]
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Summarize:
    aggregates: tuple[Named, ...]
    by: tuple[Named, ...]
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Join:
    kind: str  # innerunique, inner, leftouter, leftanti, leftsemi
    right: Query
    keys: tuple[tuple[str, str], ...]  # (left column, right column)
    pos: int = -1


@dataclass(frozen=True, slots=True)
class MvExpand:
    columns: tuple[Named, ...]
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Order:
    keys: tuple[SortKey, ...]
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Top:
    count: int
    keys: tuple[SortKey, ...]
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Take:
    count: int
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Distinct:
    columns: tuple[str, ...]  # () for *
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Count:
    pos: int = -1


Operator = (Where | Project | ProjectAway | ProjectRename | Extend | Summarize | Join | MvExpand | Order | Top | Take
            | Distinct | Count)


@dataclass(frozen=True, slots=True)
class TableRef:
    name: str
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Query:
    source: TableRef
    operators: tuple[Operator, ...]


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Query | Expr
    pos: int = -1


@dataclass(frozen=True, slots=True)
class Script:
    lets: tuple[Let, ...]
    query: Query
