"""`let` names: collected across every file of one load, folded to constants on demand.

A let is a named constant (literal, list, regex or another let), so it is folded into
the rules that use it and costs nothing at call time. Folding is lazy, so a let may
refer to a let defined later or in another file; a cycle is a diagnostic.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, Severity
from ..syntax import ast
from . import hookdefs
from .ir import Const
from .regexes import compile_regex, is_regex
from .types import ANY, BOOL, FLOAT, INT, NULL, REGEX, STR, Type, join, list_of

_BAD = Const(None, ANY)  # stands in for a let that failed, to avoid cascades


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
    _resolving: list[str] = field(default_factory=list)
    _deps: dict[str, set[str]] = field(default_factory=dict)

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
        if name in self.used:
            return
        self.used.add(name)
        for dep in self._deps.get(name, ()):
            self._mark_used(dep)

    def value(self, name: str) -> Const:
        """The folded value of a let; marks it (and what it refers to) as used."""
        if self._resolving:
            self._deps.setdefault(self._resolving[-1], set()).add(name)
        else:
            self._mark_used(name)
        if name in self._values:
            return self._values[name]
        let = self.lets[name]
        if name in self._resolving:
            self.diags.append(
                Diagnostic(
                    "GR0240",
                    Severity.ERROR,
                    f"let '{name}' refers to itself",
                    let.name.span,
                    hint="cycle: " + " -> ".join([*self._resolving, name]),
                )
            )
            self._values[name] = _BAD
            return _BAD
        self._resolving.append(name)
        try:
            const = self._fold(let.value)
        finally:
            self._resolving.pop()
        self._values[name] = const
        return const

    def unused(self) -> list[ast.Let]:
        return [let for name, let in self.lets.items() if name not in self.used]

    def _fold(self, expr: ast.Expr) -> Const:
        if isinstance(expr, ast.Literal):
            return literal_const(expr.value)
        if isinstance(expr, ast.RegexLit):
            pattern = compile_regex(expr.pattern, expr.flags, expr.span, self.diags)
            return Const(pattern, REGEX) if pattern is not None else _BAD
        if isinstance(expr, ast.Name) and expr.name in self.lets:
            return self.value(expr.name)
        if isinstance(expr, ast.Unary) and expr.op == "-" and isinstance(expr.operand, ast.Literal):
            inner = expr.operand.value
            if isinstance(inner, int | float) and not isinstance(inner, bool):
                return literal_const(-inner)
        if isinstance(expr, ast.ListExpr):
            items = [self._fold(item) for item in expr.items]
            elem: Type = items[0].type if items else ANY
            for item in items[1:]:
                elem = join(elem, item.type)
            return Const(tuple(i.value for i in items), list_of(elem))
        self.diags.append(
            Diagnostic(
                "GR0241",
                Severity.ERROR,
                "let value must be a constant: a literal, a list, a regex or another let",
                expr.span,
                hint="facts can only be read inside a rule's when/unless",
            )
        )
        return _BAD


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
