"""Reading the IR text format back: ``parse_graph(print_graph(g)) == g``.

The grammar (see :mod:`.printer` for an example)::

    graph   := 'graph' @NAME '(' [param {',' param}] ')' '->' '(' [type {',' type}] ')'
               '{' {op} 'return' [value {',' value}] '}'
    param   := %NAME ':' type
    type    := DTYPE '[' [dim {',' dim}] ']'          dim := INT | SYMBOL
    op      := %NAME ':' type {',' %NAME ':' type} '=' KIND [value {',' value}]
               ['{' NAME '=' attr {',' NAME '=' attr} '}'] ['{' graph '}']
    attr    := NUMBER | IDENT | '[' [attr {',' attr}] ']'

Ops are built with :func:`~.builder.emit_op`, so attributes are normalized and result
types inferred; a printed type that disagrees with the inferred one is an error. An
identifier attribute is ``true``, ``false``, ``none``, ``nan``, a dtype name, or else a
:class:`~.types.Sym`; ``inf`` and ``-inf`` read as floats. A ``#`` comment on an op's
first line is its :class:`~.core.SourceLoc` (``file:line layer``, either part optional);
comments on other lines are ignored. Every error is an :class:`~.errors.IRParseError`
with the 1-based line and column of the offending token.

Limits of the round trip (the text cannot tell these apart): a SourceLoc with a file but
no line, a line but no file, an empty layer, or a layer with surrounding spaces; a Sym
attribute named like a word above (``none``, ``f32``, ...); and a nan other than
``math.nan``, which reads back as ``math.nan`` (nan != nan, so Graph equality needs the
same object).
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple, NoReturn

from .builder import emit_op
from .core import Graph, Op, SourceLoc, Value
from .errors import IRParseError
from .opdef import get_opdef
from .printer import NAME, format_types, is_param_name
from .types import DType, Sym, TensorType

_TOKEN = re.compile(rf"""
    (?P<space>[ \t\r\n]+) | (?P<comment>\#[^\n]*)
  | (?P<value>%{NAME.pattern}) | (?P<symbol>@{NAME.pattern})
  | (?P<number>-?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|inf(?!\w)))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*) | (?P<punct>->|[(){{}}\[\],:=])
""", re.VERBOSE)
_LOC = re.compile(r"(?P<file>.+?):(?P<line>\d+)(?: +(?P<layer>.+))?")
_DTYPES = {d.value: d for d in DType}
_KIND_NAMES = {"value": "a %name", "symbol": "an @name", "ident": "an identifier",
               "end": "end of input"}
_WORDS = {"true": True, "false": False, "none": None, "nan": math.nan, **_DTYPES}


class _Token(NamedTuple):
    kind: str      # value symbol number ident punct end
    text: str
    line: int
    column: int

    def describe(self) -> str:
        return "end of input" if self.kind == "end" else repr(self.text)


def parse_graph(text: str) -> Graph:
    """The Graph that ``text`` describes; IRParseError if it cannot be read."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.tokens, self.comments = _tokenize(text, self.lines)
        self.pos = 0

    def parse(self) -> Graph:
        graph = self.graph()
        self.expect("end")
        return graph

    # --- token helpers ---------------------------------------------------------------

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> _Token:
        token = self.peek()
        self.pos += 1
        return token

    def at(self, kind: str, text: str | None = None, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == kind and (text is None or token.text == text)

    def accept(self, text: str) -> bool:
        if self.at("punct", text):
            self.pos += 1
            return True
        return False

    def expect(self, kind: str, text: str | None = None) -> _Token:
        if not self.at(kind, text):
            wanted = repr(text) if text else _KIND_NAMES[kind]
            self.fail(f"expected {wanted}, got {self.peek().describe()}", self.peek())
        return self.next()

    def fail(self, message: str, token: _Token) -> NoReturn:
        raise IRParseError(message, token.line, token.column, self.lines[token.line - 1])

    def comma_list(self, item, close: str) -> list:
        """``item`` repeated with commas up to the closing punctuation ``close``."""
        items = []
        while not self.accept(close):
            if items and not self.accept(","):
                self.fail(f"expected ',' or {close!r}, got {self.peek().describe()}", self.peek())
            items.append(item())
        return items

    # --- grammar ---------------------------------------------------------------------

    def graph(self) -> Graph:
        self.expect("ident", "graph")
        name = self.expect("symbol").text[1:]
        scope: dict[str, Value] = {}
        self.expect("punct", "(")
        params = self.comma_list(lambda: self.param(scope), ")")
        self.expect("punct", "->")
        self.expect("punct", "(")
        declared = tuple(self.comma_list(self.type, ")"))
        self.expect("punct", "{")
        ops = []
        while not self.at("ident", "return"):
            if not self.at("value"):
                self.fail(f"expected an op or 'return', got {self.peek().describe()}", self.peek())
            ops.append(self.op(scope))
        ret = self.next()
        results = self.comma_list(lambda: self.use(scope), "}")
        got = tuple(v.type for v in results)
        if got != declared:
            self.fail(f"graph @{name} returns types that disagree with its header: "
                      f"expected {format_types(declared)}, got {format_types(got)}", ret)
        return Graph(name, params, ops, results)

    def param(self, scope: dict) -> Value:
        token = self.expect("value")
        name = token.text[1:]
        if not is_param_name(name):
            self.fail(f"parameter name {token.text} is all digits (those name op results)", token)
        self.define(token, scope)
        self.expect("punct", ":")
        value = Value(self.type(), name=name)
        scope[name] = value
        return value

    def type(self) -> TensorType:
        token = self.expect("ident")
        if token.text not in _DTYPES:
            self.fail(f"unknown dtype {token.text!r}; expected one of {', '.join(_DTYPES)}", token)
        self.expect("punct", "[")
        return TensorType(tuple(self.comma_list(self.dim, "]")), _DTYPES[token.text])

    def dim(self):
        token = self.next()
        if token.kind == "ident":
            return Sym(token.text)
        if token.kind == "number" and token.text.isdigit():
            return int(token.text)
        self.fail(f"expected a dimension (an int >= 0 or a symbol), got {token.describe()}", token)

    def op(self, scope: dict) -> Op:
        defs = []
        while True:
            token = self.expect("value")
            self.define(token, scope, [other for other, _ in defs])
            self.expect("punct", ":")
            defs.append((token, self.type()))
            if not self.accept(","):
                break
        self.expect("punct", "=")
        kind = self.expect("ident")
        try:
            get_opdef(kind.text)
        except KeyError:
            self.fail(f"unknown op {kind.text!r}", kind)
        operands = []
        # Operands start with a %name not followed by ':' (that would begin the next op).
        if self.at("value") and not self.at("punct", ":", ahead=1):
            operands.append(self.use(scope))
            while self.accept(","):
                operands.append(self.use(scope))
        attrs = self.attrs() if self.at("punct", "{") and not self.at("ident", "graph", 1) else {}
        region = None
        if self.accept("{"):
            region = self.graph()
            self.expect("punct", "}")
        loc = _parse_loc(self.comments.get(defs[0][0].line, ""))
        try:
            op = emit_op(kind.text, operands, attrs, region, loc)
        except (TypeError, ValueError) as e:
            self.fail(str(e), kind)
        if len(op.results) != len(defs):
            self.fail(f"{kind.text} has {len(op.results)} results, {len(defs)} printed", kind)
        for (token, printed), result in zip(defs, op.results):
            if printed != result.type:
                self.fail(f"printed type of {token.text} disagrees with the inferred type: "
                          f"expected {result.type}, got {printed}", token)
            scope[token.text[1:]] = result
        return op

    def define(self, token: _Token, scope: dict, pending=()) -> None:
        """Fail if ``token`` names a value of ``scope`` or one of the ``pending`` tokens."""
        if token.text[1:] in scope or any(token.text == other.text for other in pending):
            self.fail(f"{token.text} is defined twice", token)

    def use(self, scope: dict) -> Value:
        token = self.expect("value")
        if token.text[1:] not in scope:
            self.fail(f"undefined value {token.text}", token)
        return scope[token.text[1:]]

    def attrs(self) -> dict:
        self.expect("punct", "{")
        attrs = {}
        for token, value in self.comma_list(self.attr, "}"):
            if token.text in attrs:
                self.fail(f"attribute {token.text} is given twice", token)
            attrs[token.text] = value
        return attrs

    def attr(self) -> tuple[_Token, object]:
        token = self.expect("ident")
        self.expect("punct", "=")
        return token, self.attr_value()

    def attr_value(self):
        token = self.next()
        if token.kind == "number":
            return int(token.text) if re.fullmatch(r"-?\d+", token.text) else float(token.text)
        if token.kind == "ident":
            return _WORDS[token.text] if token.text in _WORDS else Sym(token.text)
        if token.kind == "punct" and token.text == "[":
            return tuple(self.comma_list(self.attr_value, "]"))
        self.fail(f"expected an attribute value, got {token.describe()}", token)


def _tokenize(text: str, lines: list[str]) -> tuple[list[_Token], dict[int, str]]:
    """The tokens of ``text`` (ending with an ``end`` token) and line -> comment text."""
    tokens, comments = [], {}
    line, line_start, pos = 1, 0, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise IRParseError(f"unexpected character {text[pos]!r}", line, pos - line_start + 1,
                               lines[line - 1])
        kind, chunk = match.lastgroup, match.group()
        if kind == "comment":
            comments[line] = chunk[1:].strip()
        elif kind != "space":
            tokens.append(_Token(kind, chunk, line, pos - line_start + 1))
        if "\n" in chunk:
            line, line_start = line + chunk.count("\n"), pos + chunk.rfind("\n") + 1
        pos = match.end()
    tokens.append(_Token("end", "", line, pos - line_start + 1))
    return tokens, comments


def _parse_loc(comment: str) -> SourceLoc:
    """``file:line layer``, ``file:line``, ``layer`` or ``""`` as a SourceLoc."""
    if not comment:
        return SourceLoc()
    match = _LOC.fullmatch(comment)
    if match is None:
        return SourceLoc(None, None, comment)
    return SourceLoc(match["file"], int(match["line"]), match["layer"])
