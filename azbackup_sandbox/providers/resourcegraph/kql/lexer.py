"""KQL text to tokens: identifiers, string/number/timespan/datetime literals, operators and punctuation.

Comments (``// ...``) are dropped. Hyphenated operator names (``project-away``, ``mv-expand``) and the
negated/case-insensitive string operators (``!in~``, ``!has``, ``=~``) are single tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .errors import KqlError

__all__ = ["Kind", "Token", "tokenize"]


class Kind(Enum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    TIMESPAN = "timespan"
    DATETIME = "datetime"
    OP = "operator"
    EOF = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # the identifier, the decoded string, the operator; for literals the source text
    pos: int
    value: object = None  # a literal's value: str, int, float, seconds (timespan), text (datetime)

    def is_op(self, *ops: str) -> bool:
        return self.kind is Kind.OP and self.text in ops

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.IDENT and self.text in words


_HYPHENATED = ("project-away", "project-rename", "project-keep", "project-reorder", "mv-expand", "mv-apply")
_BANG_WORDS = ("!in~", "!in", "!has_cs", "!has", "!contains_cs", "!contains", "!startswith_cs", "!startswith",
               "!endswith_cs", "!endswith", "!between")
_SYMBOLS = ("==", "!=", "=~", "!~", "<=", ">=", "..", "<>", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")",
            "[", "]", "{", "}", ",", ".", "|", ";", ":", "~")
_TIMESPAN_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "microsecond": 1e-6,
                   "tick": 1e-7, "day": 86400.0, "days": 86400.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0,
                   "hours": 3600.0, "min": 60.0, "minute": 60.0, "minutes": 60.0, "sec": 1.0, "second": 1.0,
                   "seconds": 1.0}
_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)([A-Za-z]*)")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def _string(text: str, start: int, quote: str, *, verbatim: bool) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and not verbatim:
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if ch == "\n":
            break
        out.append(ch)
        i += 1
    raise KqlError("Unterminated string literal", text=text, position=start, token=text[start:start + 20])


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "'\"" or (ch == "@" and i + 1 < n and text[i + 1] in "'\""):
            verbatim = ch == "@"
            start = i + 1 if verbatim else i
            value, end = _string(text, start, text[start], verbatim=verbatim)
            tokens.append(Token(Kind.STRING, value, i, value))
            i = end
            continue
        if ch.isdigit():
            match = _NUMBER.match(text, i)
            assert match is not None
            digits, unit = match.group(1), match.group(2)
            if unit:
                if unit.lower() not in _TIMESPAN_UNITS:
                    raise KqlError(f"Unexpected token '{match.group(0)}'", text=text, position=i,
                                   token=match.group(0))
                seconds = float(digits) * _TIMESPAN_UNITS[unit.lower()]
                tokens.append(Token(Kind.TIMESPAN, match.group(0), i, seconds))
            else:
                number: int | float = float(digits) if any(c in digits for c in ".eE") else int(digits)
                tokens.append(Token(Kind.NUMBER, digits, i, number))
            i = match.end()
            continue
        ident = _IDENT.match(text, i)
        if ident:
            word = ident.group(0)
            end = ident.end()
            for hyphenated in _HYPHENATED:
                if text.startswith(hyphenated, i) and not text[i + len(hyphenated):i + len(hyphenated) + 1].isalnum():
                    word, end = hyphenated, i + len(hyphenated)
                    break
            if word in ("datetime", "timespan", "time") and _next_char(text, end) == "(":
                close = text.find(")", end)
                if close < 0:
                    raise KqlError(f"Unterminated {word} literal", text=text, position=i, token=word)
                raw = text[text.index("(", end) + 1:close].strip()
                kind = Kind.DATETIME if word == "datetime" else Kind.TIMESPAN
                tokens.append(Token(kind, text[i:close + 1], i, raw))
                i = close + 1
                continue
            if word == "in" and text.startswith("~", end):
                tokens.append(Token(Kind.OP, "in~", i))
                i = end + 1
                continue
            tokens.append(Token(Kind.IDENT, word, i))
            i = end
            continue
        if ch == "!":
            bang = next((op for op in _BANG_WORDS
                         if text.startswith(op, i) and not text[i + len(op):i + len(op) + 1].isalnum()), None)
            if bang is not None:
                tokens.append(Token(Kind.OP, bang, i))
                i += len(bang)
                continue
        for sym in _SYMBOLS:
            if text.startswith(sym, i):
                tokens.append(Token(Kind.OP, sym, i))
                i += len(sym)
                break
        else:
            raise KqlError(f"Unexpected character '{ch}'", text=text, position=i, token=ch)
    tokens.append(Token(Kind.EOF, "", n))
    return tokens


def _next_char(text: str, i: int) -> str:
    while i < len(text) and text[i].isspace():
        i += 1
    return text[i] if i < len(text) else ""
