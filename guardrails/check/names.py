"""`let` names: collected across every file of one load, folded to constants on demand.

A let is a named constant (literal, list, regex or another let), so it is folded into
the rules that use it and costs nothing at call time. Folding is lazy, so a let may
refer to a let defined later or in another file; a cycle is a diagnostic, and so is a
value nested more than MAX_LET_DEPTH lets and lists deep (its constant would be too).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, Severity
from ..runtime.ops import FrozenMap
from ..source import Span
from ..syntax import ast
from . import hookdefs
from .ir import Const
from .regexes import compile_regex, is_regex
from .types import ANY, BOOL, FLOAT, INT, MAP, NULL, REGEX, STR, Type, join, list_of

_BAD = Const(None, ANY)  # stands in for a let that failed, to avoid cascades
MAX_LET_DEPTH = 100  # lets referring to lets, and lists inside them, counted together


def reserved_fact_names() -> frozenset[str]:
    names = {e.split(":")[0].split(".")[0].strip() for e in hookdefs.CONTEXT_FACTS}
    for entries in hookdefs.NORMALIZED_FACTS.values():
        names.update(e.split(":")[0].split(".")[0].strip() for e in entries)
    return frozenset(names)


@dataclass
class LetTable:
    diags: list[Diagnostic]
    lets: dict[str, ast.Let] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    _values: dict[str, Const] = field(default_factory=dict)
    _depths: dict[str, int] = field(default_factory=dict)  # lets and lists, itself included
    _deps: dict[str, list[str]] = field(default_factory=dict)

    def declare(self, let: ast.Let) -> None:
        name = let.name.name
        first = self.lets.get(name)
        if first is not None:
            self.diags.append(
                Diagnostic(
                    "GR0206",
                    Severity.ERROR,
                    f"let '{name}' is already defined",
                    let.name.span,
                    hint=f"first defined at {first.name.span.location}",
                    related=((f"let '{name}' is first defined here", first.name.span),),
                )
            )
            return
        if name in reserved_fact_names():
            self.diags.append(
                Diagnostic(
                    "GR0207",
                    Severity.ERROR,
                    f"let '{name}' has the name of a fact",
                    let.name.span,
                    hint="rename it; rules would not be able to read the fact",
                )
            )
        self.lets[name] = let

    def __contains__(self, name: str) -> bool:
        return name in self.lets

    def suggest(self, name: str) -> list[str]:
        return difflib.get_close_matches(name, list(self.lets), n=1, cutoff=0.7)

    def _mark_used(self, name: str) -> None:
        todo = [name]
        while todo:
            current = todo.pop()
            if current not in self.used:
                self.used.add(current)
                todo.extend(self._deps.get(current, ()))

    def value(self, name: str) -> Const:
        """The folded value of a let; marks it (and what it refers to) as used."""
        if name not in self._values:
            self._resolve(name)
        self._mark_used(name)
        return self._values[name]

    def unused(self) -> list[ast.Let]:
        return [let for name, let in self.lets.items() if name not in self.used]

    def _resolve(self, root: str) -> None:
        """Fold `root` and the lets it refers to, deepest first, with an explicit stack:
        a chain of lets is as long as the files make it, Python's stack is not."""
        stack = [root]
        on_stack = {root}
        next_ref: dict[str, int] = {}
        while stack:
            name = stack[-1]
            if name not in self._deps:
                self._deps[name] = _refs(self.lets[name].value, self.lets)
            refs = self._deps[name]
            i = next_ref.get(name, 0)
            while i < len(refs) and refs[i] in self._values:
                i += 1
            next_ref[name] = i
            if i == len(refs):
                stack.pop()
                on_stack.discard(name)
                const, depth = self._fold(self.lets[name].value, name, 1)
                self._values[name] = const
                self._depths[name] = 0 if const is _BAD else depth + 1
                continue
            ref = refs[i]
            if ref in on_stack:
                cycle = [*stack[stack.index(ref) :], ref]
                if len(cycle) > 8:
                    cycle[4:-3] = [f"... ({len(cycle) - 7} more)"]
                self.diags.append(
                    Diagnostic(
                        "GR0240",
                        Severity.ERROR,
                        f"let '{ref}' refers to itself",
                        self.lets[ref].name.span,
                        hint="cycle: " + " -> ".join(cycle),
                    )
                )
                self._values[ref] = _BAD
                self._depths[ref] = 0
                continue
            stack.append(ref)
            on_stack.add(ref)

    def _fold(self, expr: ast.Expr, let: str, level: int) -> tuple[Const, int]:
        """`expr` (inside let `let`, `level` lets and lists deep) as a constant and the
        levels it adds; every let it refers to is folded already."""
        if isinstance(expr, ast.Literal):
            return literal_const(expr.value), 0
        if isinstance(expr, ast.RegexLit):
            pattern = compile_regex(expr.pattern, expr.flags, expr.span, self.diags)
            return (Const(pattern, REGEX) if pattern is not None else _BAD), 0
        if isinstance(expr, ast.Name) and expr.name in self.lets:
            depth = self._depths[expr.name]
            if level + depth > MAX_LET_DEPTH:
                return self._too_deep(let, expr.span), 0
            return self._values[expr.name], depth
        if isinstance(expr, ast.Unary) and expr.op == "-" and isinstance(expr.operand, ast.Literal):
            inner = expr.operand.value
            if isinstance(inner, int | float) and not isinstance(inner, bool):
                return literal_const(-inner), 0
        if isinstance(expr, ast.MapExpr):
            if level + 1 > MAX_LET_DEPTH:
                return self._too_deep(let, expr.span), 0
            pairs = [(k, self._fold(v, let, level + 1)) for k, v in expr.items]
            if any(c is _BAD for _, (c, _) in pairs):
                return _BAD, 0
            depth = 1 + max((d for _, (_, d) in pairs), default=0)
            return Const(FrozenMap({k: c.value for k, (c, _) in pairs}), MAP), depth
        if isinstance(expr, ast.ListExpr):
            if level + 1 > MAX_LET_DEPTH:
                return self._too_deep(let, expr.span), 0
            folded = [self._fold(item, let, level + 1) for item in expr.items]
            items = [const for const, _ in folded]
            if any(item is _BAD for item in items):
                return _BAD, 0  # reported already; one diagnostic, not one per enclosing let
            elem: Type = items[0].type if items else ANY
            for item in items[1:]:
                elem = join(elem, item.type)
            depth = 1 + max((d for _, d in folded), default=0)
            return Const(tuple(i.value for i in items), list_of(elem)), depth
        self.diags.append(
            Diagnostic(
                "GR0241",
                Severity.ERROR,
                "let value must be a constant: a literal, a list, a map, a regex or another let",
                expr.span,
                hint="facts can only be read inside a rule's when/unless",
            )
        )
        return _BAD, 0

    def _too_deep(self, let: str, span: Span) -> Const:
        self.diags.append(
            Diagnostic(
                "GR0242",
                Severity.ERROR,
                f"let '{let}' nests lets and lists more than {MAX_LET_DEPTH} levels deep",
                span,
                hint="a let that refers to a let, or holds a list, is one level deeper than "
                "what it holds; refer to fewer lets in between",
            )
        )
        return _BAD


def _refs(expr: ast.Expr, lets: Mapping[str, ast.Let]) -> list[str]:
    """The lets `expr` refers to, where folding looks: the value itself, list items."""
    if isinstance(expr, ast.Name) and expr.name in lets:
        return [expr.name]
    if isinstance(expr, ast.ListExpr):
        return [name for item in expr.items for name in _refs(item, lets)]
    if isinstance(expr, ast.MapExpr):
        return [name for _, item in expr.items for name in _refs(item, lets)]
    return []


def literal_const(value: object) -> Const:
    if value is None:
        return Const(None, NULL)
    if isinstance(value, bool):
        return Const(value, BOOL)
    if isinstance(value, int):
        return Const(value, INT)
    if isinstance(value, float):
        return Const(value, FLOAT)
    if isinstance(value, str):
        return Const(value, STR)
    if is_regex(value):
        return Const(value, REGEX)
    return Const(value, ANY)
