"""Lark parse tree -> AST, with a span on every node.

A small walker of our own, not a Lark Transformer: it needs every node's `meta`
(Lark's internal transformer cannot pass it), and Lark's `v_args(meta=True)` wrapper
rebuilds a wrapper on every call, which was a third of load time. Literal decoding
problems are collected as diagnostics instead of raised, so one bad string does not
hide the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lark import Token, Tree
from lark.tree import Meta

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile, Span
from . import ast
from .literals import decode_string, number_value
from .template import message_template, parse_template


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
        return decode_string(self.file, tok, self.diagnostics)

    def number_value(self, tok: Token) -> int | float:
        return number_value(self.file, tok, self.diagnostics)

    # ---- items ----

    def start(self, meta: Meta, items: list[ast.Item]) -> tuple[ast.Item, ...]:
        return tuple(items)

    def let_stmt(self, meta: Meta, children: list[Any]) -> ast.Let:
        name, value = children
        return ast.Let(self._ident(name), value, span=self._span(meta))

    def counter_decl(self, meta: Meta, children: list[Any]) -> ast.StateDecl:
        name, keys, *options = children
        return self._state("counter", meta, name, keys, None, options)

    def streak_decl(self, meta: Meta, children: list[Any]) -> ast.StateDecl:
        name, keys, value, keep = children
        return self._state("streak", meta, name, keys, value, [keep] if keep else [])

    def _state(
        self, kind: str, meta: Meta, name: Token, keys: Any, value: Any, options: list[Any]
    ) -> ast.StateDecl:
        found: dict[str, Any] = {}
        repeated: list[Span] = []
        for option, val, span in options:
            if option in found:
                repeated.append(span)
            else:
                found[option] = val
        return ast.StateDecl(
            kind,
            self._ident(name),
            tuple(keys or ()),
            value,
            found.get("every"),
            found.get("keep"),
            found.get("limit"),
            tuple(repeated),
            span=self._span(meta),
        )

    def per_clause(self, meta: Meta, children: list[ast.Expr]) -> tuple[ast.Expr, ...]:
        return tuple(children)

    def every_option(self, meta: Meta, children: list[Token]) -> tuple[str, Any, Span]:
        return ("every", (self._duration(children[0]), self._tspan(children[0])), self._span(meta))

    def keep_option(self, meta: Meta, children: list[Token]) -> tuple[str, Any, Span]:
        return ("keep", (self._duration(children[0]), self._tspan(children[0])), self._span(meta))

    def limit_option(self, meta: Meta, children: list[Any]) -> tuple[str, Any, Span]:
        return ("limit", children[0], self._span(meta))

    def _duration(self, tok: Token) -> float:
        text = str(tok)
        unit = text.lstrip("0123456789")
        return int(text[: len(text) - len(unit)]) * _UNITS[unit]

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
        breakers: list[ast.BreakerClause] = []
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
            elif kind == "breaker":
                breakers.append(value)
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
            tuple(breakers),
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

    def breaker_clause(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        span = self._span(meta)
        if len(children) == 1:
            return ("breaker", ast.BreakerClause(None, None, None, self._ident(children[0]),
                                                 span=span))  # fmt: skip
        count, window, cooldown = children
        return ("breaker", ast.BreakerClause(
            (int(self.number_value(count)), self._tspan(count)),
            (self._duration(window), self._tspan(window)),
            (self._duration(cooldown), self._tspan(cooldown)),
            span=span,
        ))  # fmt: skip

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
        if replacement is not None and replacement.type == "NAME":  # `with mask`
            operator = str(replacement)
            return ("action", ast.Redact(target, pattern, None, operator, span=self._span(meta)))
        repl = self.decode_string(replacement) if replacement is not None else None
        return ("action", ast.Redact(target, pattern, repl, span=self._span(meta)))

    def message_action(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        kind = str(children[0])
        if kind == "replace":
            target, pattern, _, value = children[1:]
        else:
            value, _, target = children[1:]
            pattern = None
        template = message_template(self.file, value, self.decode_string, self.diagnostics)
        action = ast.MessageAction(kind, target, value, pattern, template, span=self._span(meta))
        return ("action", action)

    def add_action(self, meta: Meta, children: list[Any]) -> tuple[str, Any]:
        amount, name = children
        return ("action", ast.AddAction(amount, self._ident(name), span=self._span(meta)))

    def track_action(self, meta: Meta, children: list[Token]) -> tuple[str, Any]:
        return ("action", ast.TrackAction(self._ident(children[0]), span=self._span(meta)))

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

    def quantified(self, meta: Meta, children: list[Any]) -> ast.Expr:
        kind, var, items, body = children
        return ast.Quantified(kind, self._ident(var), items, body, span=self._span(meta))

    def quantifier(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

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

    def map_expr(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.MapExpr(tuple(c for c in children if c is not None), span=self._span(meta))

    def map_item(self, meta: Meta, children: list[Any]) -> tuple[str, ast.Expr]:
        key, value = children
        return (self.decode_string(key), value)

    def true(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.Literal(True, span=self._span(meta))

    def false(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.Literal(False, span=self._span(meta))

    def null(self, meta: Meta, children: list[Any]) -> ast.Expr:
        return ast.Literal(None, span=self._span(meta))


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


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
    builder._methods.clear()  # (bound methods: a cycle, else left to the paused GC)
    return items, builder.diagnostics
