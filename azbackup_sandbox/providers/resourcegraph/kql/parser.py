"""Tokens to a :class:`~.nodes.Script`: a recursive-descent parser for the KQL subset Resource Graph users write.

Grammar (informally)::

    script    := (let NAME = (query | expr) ;)* query ;?
    query     := [TABLE] (| operator)*          -- no table: Resources, as Resource Graph allows
    operator  := where expr | project cols | project-away names | project-rename new=old,...
               | extend cols | summarize [aggs] [by cols] | join [kind=K] (query) on keys
               | mv-expand cols | (order|sort) by keys | top N by keys | (take|limit) N
               | distinct (*|names) | count
    expr      := or > and > not-less comparisons (== != =~ !~ < <= > >= in in~ !in !in~ has contains
                 startswith endswith and their ! and _cs forms, between) > + - > * / % > unary - > postfix
                 (.name ['name'] [0] call(...))
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from . import nodes as n
from .errors import KqlError
from .lexer import Kind, Token, tokenize
from .values import parse_datetime, parse_timespan

__all__ = ["parse"]

_STRING_OPS = ("has", "contains", "startswith", "endswith", "has_cs", "contains_cs", "startswith_cs",
               "endswith_cs")
_COMPARISONS = ("==", "!=", "<>", "=~", "!~", "<", "<=", ">", ">=")
_IN_OPS = ("in", "in~", "!in", "!in~")
_SUPPORTED = ("where", "filter", "project", "project-away", "project-rename", "extend", "summarize", "join",
              "mv-expand", "order", "sort", "top", "take", "limit", "distinct", "count")
_KNOWN_UNSUPPORTED = ("union", "parse", "sample", "sample-distinct", "mv-apply", "project-keep",
                      "project-reorder", "lookup", "make-series", "render", "search", "find", "evaluate",
                      "range", "print", "as", "serialize", "invoke", "facet", "fork", "getschema", "externaldata",
                      "top-nested", "partition", "scan")
_JOIN_KINDS = ("innerunique", "inner", "leftouter", "leftanti", "leftsemi", "anti", "semi", "leftantisemi",
               "leftsemi")


def parse(text: str) -> n.Script:
    return _Parser(text).script()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # ---- token helpers ----------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.EOF:
            self.i += 1
        return tok

    def fail(self, message: str | None = None, tok: Token | None = None, code: str = "ParserFailure") -> KqlError:
        tok = tok or self.tok
        shown = tok.text if tok.kind is not Kind.STRING else repr(tok.text)
        what = f"Unexpected token '{shown}'" if tok.kind is not Kind.EOF else "Unexpected end of query"
        return KqlError(f"{what}: {message}" if message else what, code=code, text=self.text, position=tok.pos,
                        token=tok.text)

    def expect_op(self, op: str) -> Token:
        if not self.tok.is_op(op):
            raise self.fail(f"expected '{op}'")
        return self.advance()

    def expect_word(self, *words: str) -> Token:
        if not self.tok.is_word(*words):
            raise self.fail(f"expected {' or '.join(repr(w) for w in words)}")
        return self.advance()

    def ident(self, what: str = "a name") -> Token:
        if self.tok.kind is not Kind.IDENT:
            raise self.fail(f"expected {what}")
        return self.advance()

    def integer(self) -> int:
        tok = self.tok
        if tok.kind is not Kind.NUMBER or not isinstance(tok.value, int):
            raise self.fail("expected a whole number")
        self.advance()
        return int(tok.value)

    # ---- statements -------------------------------------------------------------------------------
    def script(self) -> n.Script:
        lets: list[n.Let] = []
        while self.tok.is_word("let"):
            start = self.advance()
            name = self.ident("the name of the let").text
            self.expect_op("=")
            value: n.Query | n.Expr
            if self._starts_query():
                value = self.query()
            else:
                value = self.expr()
            self.expect_op(";")
            lets.append(n.Let(name, value, start.pos))
        query = self.query(top_level=True)
        while self.tok.is_op(";"):
            self.advance()
        if self.tok.kind is not Kind.EOF:
            raise self.fail("expected '|' or the end of the query")
        return n.Script(tuple(lets), query)

    def _starts_query(self) -> bool:
        tok = self.tok
        return tok.kind is Kind.IDENT and (self.peek().is_op("|", ";", ")") or tok.text in _SUPPORTED
                                           and not self.peek().is_op("("))

    def query(self, *, top_level: bool = False) -> n.Query:
        tok = self.tok
        if tok.kind is Kind.IDENT and (tok.text not in _SUPPORTED or self.peek().is_op("|", ";", ")")
                                       or self.peek().kind is Kind.EOF):
            source = n.TableRef(self.advance().text, tok.pos)
        elif tok.kind is Kind.IDENT and tok.text in _SUPPORTED and top_level:
            source = n.TableRef("Resources", tok.pos)  # Resource Graph's default table
            return n.Query(source, tuple(self._operators(first_without_pipe=True)))
        else:
            raise self.fail("expected the name of a table")
        return n.Query(source, tuple(self._operators(first_without_pipe=False)))

    def _operators(self, *, first_without_pipe: bool) -> list[n.Operator]:
        ops: list[n.Operator] = []
        if first_without_pipe:
            ops.append(self.operator())
        while self.tok.is_op("|"):
            self.advance()
            ops.append(self.operator())
        return ops

    # ---- tabular operators ------------------------------------------------------------------------
    def operator(self) -> n.Operator:
        tok = self.tok
        if tok.kind is not Kind.IDENT:
            raise self.fail("expected a query operator")
        word = tok.text
        if word in _KNOWN_UNSUPPORTED:
            raise self.fail("this operator is not supported by the sandbox's Resource Graph",
                            code="InvalidQueryLanguage")
        if word not in _SUPPORTED:
            raise self.fail("expected a query operator")
        self.advance()
        pos = tok.pos
        if word in ("where", "filter"):
            return n.Where(self.expr(), pos)
        if word == "project":
            return n.Project(self.named_list(), pos)
        if word == "extend":
            return n.Extend(self.named_list(), pos)
        if word == "project-away":
            return n.ProjectAway(self.name_list(wildcards=True), pos)
        if word == "project-rename":
            renames = []
            while True:
                new = self.ident("a column name").text
                self.expect_op("=")
                renames.append((new, self.ident("a column name").text))
                if not self.tok.is_op(","):
                    break
                self.advance()
            return n.ProjectRename(tuple(renames), pos)
        if word == "summarize":
            aggregates: tuple[n.Named, ...] = ()
            if not self.tok.is_word("by"):
                aggregates = self.named_list()
            by: tuple[n.Named, ...] = ()
            if self.tok.is_word("by"):
                self.advance()
                by = self.named_list()
            if not aggregates and not by:
                raise self.fail("expected an aggregation or 'by'")
            return n.Summarize(aggregates, by, pos)
        if word == "join":
            return self.join(pos)
        if word == "mv-expand":
            columns = self.named_list()
            if self.tok.is_word("to"):
                self.advance()
                self.expect_word("typeof")
                self.expect_op("(")
                self.ident("a type")
                self.expect_op(")")
            return n.MvExpand(columns, pos)
        if word in ("order", "sort"):
            self.expect_word("by")
            return n.Order(self.sort_keys(), pos)
        if word == "top":
            count = self.integer()
            self.expect_word("by")
            return n.Top(count, self.sort_keys(), pos)
        if word in ("take", "limit"):
            return n.Take(self.integer(), pos)
        if word == "distinct":
            if self.tok.is_op("*"):
                self.advance()
                return n.Distinct((), pos)
            return n.Distinct(self.name_list(wildcards=False), pos)
        return n.Count(pos)

    def join(self, pos: int) -> n.Join:
        kind = "innerunique"
        while self.tok.kind is Kind.IDENT and self.peek().is_op("="):
            param = self.advance()
            self.advance()
            value = self.ident("a join kind")
            if param.text == "kind":
                if value.text not in _JOIN_KINDS:
                    raise self.fail("this join kind is not supported", value, code="InvalidQueryLanguage")
                kind = {"anti": "leftanti", "leftantisemi": "leftanti", "semi": "leftsemi"}.get(value.text,
                                                                                               value.text)
            elif param.text != "hint.strategy":
                raise self.fail("expected 'kind='", param)
        if self.tok.is_op("("):
            self.advance()
            right = self.query()
            self.expect_op(")")
        else:
            tok = self.ident("a table or a parenthesised query")
            right = n.Query(n.TableRef(tok.text, tok.pos), ())
        self.expect_word("on")
        keys: list[tuple[str, str]] = []
        while True:
            keys.append(self.join_key())
            if self.tok.is_op(",") or self.tok.is_word("and"):
                self.advance()
                continue
            break
        return n.Join(kind, right, tuple(keys), pos)

    def join_key(self) -> tuple[str, str]:
        if self.tok.is_word("$left", "$right"):
            first_side, first = self._side_column()
            self.expect_op("==")
            second_side, second = self._side_column()
            if first_side == second_side:
                raise self.fail("a join condition compares $left with $right")
            return (first, second) if first_side == "$left" else (second, first)
        name = self.ident("a column name").text
        return name, name

    def _side_column(self) -> tuple[str, str]:
        side = self.expect_word("$left", "$right").text
        self.expect_op(".")
        return side, self.ident("a column name").text

    def named_list(self) -> tuple[n.Named, ...]:
        items = [self.named()]
        while self.tok.is_op(","):
            self.advance()
            items.append(self.named())
        return tuple(items)

    def named(self) -> n.Named:
        if self.tok.kind is Kind.IDENT and self.peek().is_op("="):
            name = self.advance().text
            self.advance()
            return n.Named(name, self.expr())
        return n.Named(None, self.expr())

    def name_list(self, *, wildcards: bool) -> tuple[str, ...]:
        names = []
        while True:
            name = self.ident("a column name").text
            if wildcards and self.tok.is_op("*") and self.tok.pos == self.tokens[self.i - 1].pos + len(name):
                self.advance()
                name += "*"
            names.append(name)
            if not self.tok.is_op(","):
                return tuple(names)
            self.advance()

    def sort_keys(self) -> tuple[n.SortKey, ...]:
        keys = []
        while True:
            expr = self.expr()
            descending = True
            if self.tok.is_word("asc", "desc"):
                descending = self.advance().text == "desc"
            nulls_first: bool | None = None
            if self.tok.is_word("nulls"):
                self.advance()
                nulls_first = self.expect_word("first", "last").text == "first"
            keys.append(n.SortKey(expr, descending, nulls_first))
            if not self.tok.is_op(","):
                return tuple(keys)
            self.advance()

    # ---- scalar expressions -----------------------------------------------------------------------
    def expr(self) -> n.Expr:
        return self.or_expr()

    def or_expr(self) -> n.Expr:
        left = self.and_expr()
        while self.tok.is_word("or"):
            tok = self.advance()
            left = n.Binary("or", left, self.and_expr(), tok.pos)
        return left

    def and_expr(self) -> n.Expr:
        left = self.comparison()
        while self.tok.is_word("and"):
            tok = self.advance()
            left = n.Binary("and", left, self.comparison(), tok.pos)
        return left

    def comparison(self) -> n.Expr:
        left = self.additive()
        tok = self.tok
        if tok.is_op(*_COMPARISONS) or tok.is_word(*_STRING_OPS) or (
                tok.kind is Kind.OP and tok.text.lstrip("!") in _STRING_OPS):
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return n.Binary(op, left, self.additive(), tok.pos)
        if tok.is_word("in") or tok.is_op(*_IN_OPS):
            self.advance()
            self.expect_op("(")
            items = [self.expr()]
            while self.tok.is_op(","):
                self.advance()
                items.append(self.expr())
            self.expect_op(")")
            return n.InList(tok.text, left, tuple(items), tok.pos)
        if tok.is_word("between") or tok.is_op("!between"):
            self.advance()
            self.expect_op("(")
            low = self.additive()
            self.expect_op("..")
            high = self.additive()
            self.expect_op(")")
            return n.Between(left, low, high, tok.text == "!between", tok.pos)
        return left

    def additive(self) -> n.Expr:
        left = self.multiplicative()
        while self.tok.is_op("+", "-"):
            tok = self.advance()
            left = n.Binary(tok.text, left, self.multiplicative(), tok.pos)
        return left

    def multiplicative(self) -> n.Expr:
        left = self.unary()
        while self.tok.is_op("*", "/", "%"):
            tok = self.advance()
            left = n.Binary(tok.text, left, self.unary(), tok.pos)
        return left

    def unary(self) -> n.Expr:
        if self.tok.is_op("-"):
            tok = self.advance()
            operand = self.unary()
            if isinstance(operand, n.Literal) and isinstance(operand.value, (int, float, timedelta)) \
                    and not isinstance(operand.value, bool):
                return n.Literal(-operand.value, tok.pos)
            return n.Unary("-", operand, tok.pos)
        if self.tok.is_op("+"):
            self.advance()
            return self.unary()
        return self.postfix(self.primary())

    def postfix(self, expr: n.Expr) -> n.Expr:
        while True:
            if self.tok.is_op("."):
                self.advance()
                name = self.ident("a property name")
                expr = n.Index(expr, n.Literal(name.text, name.pos), name.pos)
            elif self.tok.is_op("["):
                tok = self.advance()
                key = self.expr()
                self.expect_op("]")
                expr = n.Index(expr, key, tok.pos)
            else:
                return expr

    def primary(self) -> n.Expr:
        tok = self.tok
        if tok.kind is Kind.STRING:
            self.advance()
            # adjacent string literals concatenate, as in Kusto
            value = str(tok.value)
            while self.tok.kind is Kind.STRING:
                value += str(self.advance().value)
            return n.Literal(value, tok.pos)
        if tok.kind is Kind.NUMBER:
            self.advance()
            return n.Literal(tok.value, tok.pos)
        if tok.kind is Kind.TIMESPAN:
            self.advance()
            if isinstance(tok.value, str):
                span = parse_timespan(tok.value)
                if span is None:
                    raise self.fail("not a valid timespan literal", tok)
                return n.Literal(span, tok.pos)
            return n.Literal(timedelta(seconds=float(tok.value)), tok.pos)  # type: ignore[arg-type]
        if tok.kind is Kind.DATETIME:
            self.advance()
            when: datetime | None = parse_datetime(str(tok.value))
            if when is None:
                raise self.fail("not a valid datetime literal", tok)
            return n.Literal(when, tok.pos)
        if tok.is_op("("):
            self.advance()
            inner = self.expr()
            self.expect_op(")")
            return inner
        if tok.is_op("*"):
            self.advance()
            return n.Star(tok.pos)
        if tok.kind is Kind.IDENT:
            self.advance()
            if tok.text in ("true", "false") and not self.tok.is_op("("):
                return n.Literal(tok.text == "true", tok.pos)
            if self.tok.is_op("("):
                self.advance()
                if tok.text == "dynamic":
                    value = self.dynamic_value()
                    self.expect_op(")")
                    return n.Literal(value, tok.pos)
                args: list[n.Expr] = []
                if not self.tok.is_op(")"):
                    args.append(self.expr())
                    while self.tok.is_op(","):
                        self.advance()
                        args.append(self.expr())
                self.expect_op(")")
                return n.Call(tok.text, tuple(args), tok.pos)
            if tok.text.startswith("$"):
                raise self.fail("$left/$right are allowed only in a join's 'on'", tok)
            return n.Column(tok.text, tok.pos)
        raise self.fail("expected an expression")

    def dynamic_value(self) -> object:
        tok = self.tok
        if tok.is_op("["):
            self.advance()
            items: list[object] = []
            while not self.tok.is_op("]"):
                items.append(self.dynamic_value())
                if not self.tok.is_op(","):
                    break
                self.advance()
            self.expect_op("]")
            return items
        if tok.is_op("{"):
            self.advance()
            bag: dict[str, object] = {}
            while not self.tok.is_op("}"):
                key = self.tok
                if key.kind not in (Kind.STRING, Kind.IDENT):
                    raise self.fail("expected a property name")
                self.advance()
                self.expect_op(":")
                bag[key.text] = self.dynamic_value()
                if not self.tok.is_op(","):
                    break
                self.advance()
            self.expect_op("}")
            return bag
        if tok.is_op("-") and self.peek().kind is Kind.NUMBER:
            self.advance()
            return -self.advance().value  # type: ignore[operator]
        if tok.kind in (Kind.STRING, Kind.NUMBER):
            self.advance()
            return tok.value
        if tok.is_word("true", "false", "null"):
            self.advance()
            return json.loads(tok.text)
        raise self.fail("expected a dynamic literal")
