"""Lark parse tree -> AST, with a span on every node.

A small walker of our own, not a Lark Transformer: it needs every node's `meta`
(Lark's internal transformer cannot pass it), and Lark's `v_args(meta=True)` wrapper
rebuilds a wrapper on every call, which was a third of load time. Literal decoding
problems are collected as diagnostics instead of raised, so one bad string does not
hide the next.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

from lark import Token, Tree
from lark.tree import Meta

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile, Span
from . import ast
from .template import parse_template

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_MAX_INT_DIGITS = len(str(int(sys.float_info.max)))  # 309


class AstBuilder:
    def __init__(self, file: SourceFile) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self._methods: dict[str, Callable[[Meta, list[Any]], Any]] = {}

    def transform(self, tree: Tree[Token]) -> Any:
        """Bottom-up: children first, then the method named after the grammar rule."""
        children = [
            self.transform(child) if isinstance(child, Tree) else child for child in tree.children
        ]
        method = self._methods.get(tree.data)
        if method is None:
            method = getattr(self, tree.data)
            self._methods[tree.data] = method
        return method(tree.meta, children)

    # ---- helpers ----

    def _span(self, meta: Meta) -> Span:
        if meta.empty:
            return self.file.span(0, 0)
        return self.file.span(meta.start_pos, meta.end_pos)

    def _tspan(self, tok: Token) -> Span:
        start = tok.start_pos or 0
        end = tok.end_pos if tok.end_pos is not None else start + len(tok)
        return self.file.span(start, end)

    def _ident(self, tok: Token) -> ast.Ident:
        return ast.Ident(str(tok), span=self._tspan(tok))

    def _error(self, span: Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic("GR0103", Severity.ERROR, message, span, hint))

    def decode_string(self, tok: Token) -> str:
        raw = str(tok)[1:-1]
        base = (tok.start_pos or 0) + 1
        out: list[str] = []
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            esc = raw[i + 1] if i + 1 < len(raw) else ""
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
            elif esc in _HEX_ESCAPES:
                width = _HEX_ESCAPES[esc]
                digits = raw[i + 2 : i + 2 + width]
                where = self.file.span(base + i, base + i + 2 + len(digits))
                try:
                    if len(digits) != width:
                        raise ValueError(digits)
                    code = int(digits, 16)
                except ValueError:
                    self._error(where, f"invalid \\{esc} escape: expected {width} hex digits")
                else:
                    if code <= sys.maxunicode:
                        out.append(chr(code))
                    else:  # chr() would raise ValueError, or OverflowError past 2**31
                        self._error(where, f"invalid \\{esc} escape: past U+10FFFF")
                i += 2 + width
            else:
                self._error(
                    self.file.span(base + i, base + i + 2),
                    f"unknown escape sequence '\\{esc}' in string",
                    hint="write '\\\\' for a literal backslash",
                )
                i += 2
        return "".join(out)

    def number_value(self, tok: Token) -> int | float:
        """An INT or FLOAT token's value; past a 64-bit float's range it is a diagnostic.

        Python would read such a literal as infinity (`1e999`), or refuse to convert it
        (an integer of more than 4,300 digits raises ValueError)."""
        text = str(tok)
        if tok.type == "INT":
            digits = text.lstrip("0") or "0"
            value: int | float = int(digits) if len(digits) <= _MAX_INT_DIGITS else math.inf
            if value <= sys.float_info.max:
                return value
        else:
            value = float(text)
            if math.isfinite(value):
                return value
        shown = text if len(text) <= 20 else f"{text[:12]}... ({len(text)} characters)"
        self.diagnostics.append(
            Diagnostic(
                "GR0109",
                Severity.ERROR,
                f"number {shown} is out of range",
                self._tspan(tok),
                hint="numbers must lie within ±1.8e308, the range of a 64-bit float",
            )
        )
        return 0

    # ---- items ----

    def start(self, meta: Meta, items: list[ast.Item]) -> tuple[ast.Item, ...]:
        return tuple(items)

    def let_stmt(self, meta: Meta, children: list[Any]) -> ast.Let:
        name, value = children
        return ast.Let(self._ident(name), value, span=self._span(meta))

    def named_rule(self, meta: Meta, children: list[Any]) -> ast.Rule:
        name, desc, *rest = children
        description = self.decode_string(desc) if desc is not None else None
        return self._rule(meta, self._ident(name), description, rest)

    def anon_rule(self, meta: Meta, children: list[Any]) -> ast.Rule:
        return self._rule(meta, None, None, children)

    def _rule(
        self, meta: Meta, name: ast.Ident | None, desc: str | None, parts: list[Any]
    ) -> ast.Rule:
        hooks: list[tuple[ast.Ident, ...]] = []
        modes: list[ast.Ident] = []
        on_errors: list[ast.Ident] = []
        since: tuple[str, Span] | None = None
        priorities: list[tuple[int, Span]] = []
        when: list[ast.Expr] = []
        unless: list[ast.Expr] = []
        actions: list[ast.Action] = []
        for kind, value in parts:
            if kind == "on":
                hooks.append(value)
            elif kind == "mode":
                modes.append(value)
            elif kind == "on_error":
                on_errors.append(value)
            elif kind == "since":
                since = value
            elif kind == "priority":
                priorities.append(value)
            elif kind == "when":
                when.append(value)
            elif kind == "unless":
                unless.append(value)
            else:
                actions.append(value)
        return ast.Rule(
            name,
            desc,
            tuple(hooks),
            tuple(modes),
            tuple(on_errors),
            since,
            tuple(priorities),
            tuple(when),
            tuple(unless),
            tuple(actions),
            span=self._span(meta),
        )

    # ---- clauses (tagged, so _rule can sort them) ----

    def on_clause(self, meta: Meta, children: list[ast.Ident]) -> tuple[str, Any]:
        return ("on", tuple(children))

    def hook_name(self, meta: Meta, children: list[Token]) -> ast.Ident:
        return self._ident(children[0])

    def mode_clause(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("mode", self._ident(children[0]))

    def on_error_clause(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("on_error", self._ident(children[0]))

    def since_clause(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("since", (self.decode_string(children[0]), self._tspan(children[0])))

    def priority_clause(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        negative, number = children
        value = int(self.number_value(number))
        return ("priority", (-value if negative is not None else value, self._span(meta)))

    def negative(self, meta: Meta, children: list[Token]) -> Token:
        return children[0]

    def when_clause(self, meta: Meta, children: list[ast.Expr]) -> tuple[str, Any]:
        return ("when", children[0])

    def unless_clause(self, meta: Meta, children: list[ast.Expr]) -> tuple[str, Any]:
        return ("unless", children[0])

    # ---- actions ----

    def _block(self, kind: str, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        reason, code = children
        text = self.decode_string(reason) if reason is not None else None
        template = None
        if reason is not None:
            template = parse_template(self.file, reason, self.decode_string, self.diagnostics)
        return (
            "action",
            ast.Block(
                kind,
                text,
                self._ident(code) if code is not None else None,
                template,
                span=self._span(meta),
            ),
        )

    def block_action(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return self._block("block", meta, children)

    def warn_action(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return self._block("warn", meta, children)

    def continue_action(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        return self._block("continue", meta, children)

    def set_action(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        target, value = children
        return ("action", ast.SetAction(target, value, span=self._span(meta)))

    def redact_action(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        target, pattern, replacement = children
        repl = self.decode_string(replacement) if replacement is not None else None
        return ("action", ast.Redact(target, pattern, repl, span=self._span(meta)))

    def path(self, meta: Meta, children: list[Token]) -> ast.Path:
        root, *steps = children
        keys: list[str | int] = []
        for step in steps:
            if step.type == "INT":
                keys.append(int(self.number_value(step)))
            elif step.type == "STRING":
                keys.append(self.decode_string(step))
            else:
                keys.append(str(step))
        return ast.Path(str(root), tuple(keys), span=self._span(meta))

    # ---- expressions ----

    def or_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return ast.BoolOp("or", children[0], children[1], span=self._span(meta))

    def and_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return ast.BoolOp("and", children[0], children[1], span=self._span(meta))

    def not_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return ast.Unary("not", children[0], span=self._span(meta))

    def neg(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return ast.Unary("-", children[0], span=self._span(meta))

    def compare(self, meta: Meta, children: list[Any]) -> ast.Expr:
        left, (op, op_span), right = children
        return ast.Compare(op, left, right, op_span, span=self._span(meta))

    def not_in(self, meta: Meta, children: list[Any]) -> ast.Expr:
        left, right = children
        op_span = self.file.span(left.span.end, right.span.start)
        return ast.Compare("not in", left, right, op_span, span=self._span(meta))

    def binop(self, meta: Meta, children: list[Any]) -> ast.Expr:
        left, (op, op_span), right = children
        return ast.BinOp(op, left, right, op_span, span=self._span(meta))

    def _op(self, meta: Meta, children: list[Token]) -> tuple[str, Span]:
        return (str(children[0]), self._tspan(children[0]))

    comp_op = add_op = mul_op = _op

    def attr(self, meta: Meta, children: list[Any]) -> ast.Expr:
        obj, name = children
        return ast.Attr(obj, str(name), span=self._span(meta))

    def index(self, meta: Meta, children: list[Any]) -> ast.Expr:
        obj, key = children
        return ast.Index(obj, key, span=self._span(meta))

    def name(self, meta: Meta, children: list[Token]) -> ast.Expr:
        return ast.Name(str(children[0]), span=self._span(meta))

    def call(self, meta: Meta, children: list[Any]) -> ast.Expr:
        func, *args = children
        return ast.Call(
            self._ident(func), tuple(a for a in args if a is not None), span=self._span(meta)
        )

    def string(self, meta: Meta, children: list[Token]) -> ast.Expr:
        return ast.Literal(self.decode_string(children[0]), span=self._span(meta))

    def number(self, meta: Meta, children: list[Token]) -> ast.Expr:
        return ast.Literal(self.number_value(children[0]), span=self._span(meta))

    def regex(self, meta: Meta, children: list[Token]) -> ast.Expr:
        raw = str(children[0])
        close = raw.rindex("/")
        body = _unescape_slashes(raw[1:close])
        return ast.RegexLit(body, raw[close + 1 :], span=self._span(meta))

    def list_expr(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.ListExpr(tuple(c for c in children if c is not None), span=self._span(meta))

    def true(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.Literal(True, span=self._span(meta))

    def false(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.Literal(False, span=self._span(meta))

    def null(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.Literal(None, span=self._span(meta))


def _unescape_slashes(body: str) -> str:
    """`\\/` inside a regex literal means `/`; every other escape is the regex's own."""
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            pair = body[i : i + 2]
            out.append("/" if pair == "\\/" else pair)
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def build(tree: Tree[Token], file: SourceFile) -> tuple[tuple[ast.Item, ...], list[Diagnostic]]:
    builder = AstBuilder(file)
    items = builder.transform(tree)
    return items, builder.diagnostics
