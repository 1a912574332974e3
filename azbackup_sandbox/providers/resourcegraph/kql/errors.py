"""The one error of the KQL interpreter: what went wrong, and where in the query text."""

from __future__ import annotations

__all__ = ["KqlError"]


class KqlError(Exception):
    """A query the interpreter cannot parse (``ParserFailure``) or resolve (``SemanticError``), or an operator
    outside the supported subset (``InvalidQueryLanguage``), each as Resource Graph names them in the details
    of its 400 ``BadRequest``."""

    def __init__(self, message: str, *, code: str = "ParserFailure", text: str = "", position: int = -1,
                 token: str = "") -> None:
        self.code = code
        self.token = token
        self.position = position
        if position >= 0:
            before = text[:position]
            self.line = before.count("\n") + 1
            self.column = position - (before.rfind("\n") + 1)
            where = f" (line {self.line}, position {self.column})"
        else:
            self.line = self.column = -1
            where = ""
        self.reason = message
        super().__init__(f"{message}{where}")
