"""Errors raised by the IR. Each says what was wrong, where, what was expected and got."""
from __future__ import annotations


class FusegraphError(Exception):
    """Base of every error fusegraph raises on purpose."""


class ShapeError(FusegraphError, ValueError):
    """Operand types do not satisfy an op's shape-and-dtype rule."""


class UnsupportedError(FusegraphError, NotImplementedError):
    """A well-formed request fusegraph does not support (such as differentiating a graph
    that was already fused): says what, and what to do instead."""


class VerificationError(FusegraphError):
    """A graph breaks an IR invariant (SSA, typing, ordering, results)."""


class ContractError(FusegraphError):
    """An op breaks an invariant of its kind beyond the shape rule (``OpDef.check``: the
    ``fused`` op's kernel contract); says which rule and what broke it."""


class IRParseError(FusegraphError, SyntaxError):
    """IR text the parser cannot read; carries the line and column."""

    def __init__(self, message: str, line: int, column: int, text: str = ""):
        self.line, self.column, self.source_line = line, column, text
        where = f"line {line}, column {column}: {message}"
        if text:
            where += f"\n    {text}\n    {' ' * (column - 1)}^"
        super().__init__(where)

    def __str__(self) -> str:
        return self.args[0]
