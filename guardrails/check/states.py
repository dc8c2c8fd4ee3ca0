"""Declared states (`counter`, `streak`): names, options, and their keys per hook.

A state's key (`per user, tool.name`) and a streak's value (`of ...`) are fact
expressions, typed on each hook where a rule reads or records the state, so a key
that names a fact the hook lacks is an error at the rule that brings it there. What a
rule may do with a state is checked here too: `add` only to a counter, `track` only a
streak, and a rule that records cannot read state (its update is worked out before
any rule runs, from the call's facts alone: docs/state.md).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..diagnostics import Diagnostic, Severity
from ..runtime.state import DEFAULT_KEEP
from ..source import Span
from ..syntax import ast
from . import ir
from .names import LetTable, reserved_fact_names
from .types import FLOAT, INT, STR, Type

MAX_WINDOW = 366 * 86400.0
# field -> (what it needs declared, its type)
_FIELDS: dict[str, tuple[str, Type]] = {
    "limit": ("limit", FLOAT),
    "left": ("limit", FLOAT),
    "resets_in": ("every", INT),
    "resets_at": ("every", STR),
}


class ExprCheckerLike(Protocol):  # the part of ExprChecker used here (no import cycle)
    def check(self, node: ast.Expr) -> ir.IR: ...


MakeChecker = Callable[[], ExprCheckerLike]


@dataclass
class StateTable:
    diags: list[Diagnostic]
    lets: LetTable
    decls: dict[str, ast.StateDecl] = field(default_factory=dict)
    limits: dict[str, float | None] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)
    _uses: dict[tuple[str, str], tuple[tuple[ir.IR, ...], ir.IR | None]] = field(
        default_factory=dict
    )

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, Severity.ERROR, message, span, hint))

    def __contains__(self, name: str) -> bool:
        return name in self.decls

    def get(self, name: str) -> ast.StateDecl | None:
        return self.decls.get(name)

    def suggest(self, name: str) -> list[str]:
        return difflib.get_close_matches(name, list(self.decls), n=1, cutoff=0.7)

    # ---- declarations ----

    def declare(self, decl: ast.StateDecl) -> None:
        name = decl.name.name
        first = self.decls.get(name)
        if first is not None:
            self.diags.append(
                Diagnostic(
                    "GR0250",
                    Severity.ERROR,
                    f"state '{name}' is already declared",
                    decl.name.span,
                    hint=f"first declared at {first.name.span.location}",
                    related=((f"state '{name}' is first declared here", first.name.span),),
                )
            )
            return
        if name in self.lets:
            self.error(
                "GR0250",
                f"state '{name}' has the name of a let",
                decl.name.span,
                hint="rename one of them",
            )
        if name in reserved_fact_names():
            self.error(
                "GR0250",
                f"state '{name}' has the name of a fact",
                decl.name.span,
                hint="rename it; rules would not be able to read the fact",
            )
        for span in decl.repeated:
            self.error("GR0256", "this option is already given for the state", span)
        for option in (decl.every, decl.keep):
            if option is not None and not 1.0 <= option[0] <= MAX_WINDOW:
                self.error(
                    "GR0257",
                    "a state's durations run from 1s to 366d",
                    option[1],
                    hint="write e.g. `every 1m`, `every 1h`, `keep 7d`",
                )
        if decl.every is not None and decl.keep is not None:
            self.error(
                "GR0256",
                "a windowed counter is kept until its window ends",
                decl.keep[1],
                hint="drop `keep`, or drop `every` for a running total",
            )
        self.decls[name] = decl
        self.limits[name] = self._limit(decl)

    def _limit(self, decl: ast.StateDecl) -> float | None:
        expr = decl.limit
        if expr is None:
            return None
        value: object = None
        if isinstance(expr, ast.Literal):
            value = expr.value
        elif isinstance(expr, ast.Name) and expr.name in self.lets:
            value = self.lets.value(expr.name).value
        if type(value) in (int, float) and value >= 0:  # type: ignore[operator]
            return float(value)  # type: ignore[arg-type]
        self.error(
            "GR0251",
            "a state's limit is a number of zero or more, or a let holding one",
            expr.span,
            hint="write `limit 30` or `limit hourly_budget`",
        )
        return None

    # ---- reads and records ----

    def ref(self, name: str, fields: list[tuple[str | int, Span]], span: Span) -> ir.IR:
        """`name` or `name.field` in an expression."""
        decl = self.decls[name]
        self.read.add(name)
        base = FLOAT if decl.kind == "counter" else INT
        if not fields:
            return ir.StateRef(name, "", base)
        key, key_span = fields[0]
        spec = _FIELDS.get(key) if isinstance(key, str) and decl.kind == "counter" else None
        if spec is None or len(fields) > 1:
            known = ", ".join(f"{name}.{f}" for f in _FIELDS) if decl.kind == "counter" else ""
            self.error(
                "GR0255",
                f"{decl.kind} '{name}' has no field '{key}'",
                key_span,
                hint=f"a counter has {known}" if known else "a streak is a number",
            )
            return ir.Const(None, base)
        needs, ftype = spec
        if getattr(decl, needs) is None:
            self.error(
                "GR0255",
                f"'{name}.{key}' needs the counter to declare `{needs}`",
                key_span,
                hint=f"add `{needs} ...` to `counter {name}`",
            )
            return ir.Const(None, ftype)
        return ir.StateRef(name, str(key), ftype)

    def record(self, action: ast.AddAction | ast.TrackAction, amount: ir.IR | None) -> ir.Record:
        name = action.state.name
        decl = self.decls.get(name)
        want = "counter" if isinstance(action, ast.AddAction) else "streak"
        verb = "add to" if want == "counter" else "track"
        if decl is None:
            close = self.suggest(name)
            self.error(
                "GR0252",
                f"unknown state '{name}'",
                action.state.span,
                hint=f"did you mean '{close[0]}'?"
                if close
                else f"declare it: `{want} {name} per ...`",
            )
        elif decl.kind != want:
            self.error(
                "GR0252",
                f"cannot {verb} {decl.kind} '{name}'",
                action.state.span,
                hint="`add N to` a counter; `track` a streak",
            )
        else:
            self.recorded.add(name)
        return ir.Record(name, amount)

    def use(self, name: str, hook: str, make: MakeChecker) -> None:
        """Type the state's key (and value) on `hook`, once."""
        if (name, hook) in self._uses or name not in self.decls:
            return
        decl = self.decls[name]
        checker = make()
        keys = tuple(checker.check(k) for k in decl.keys)
        value = checker.check(decl.value) if decl.value is not None else None
        self._uses[(name, hook)] = (keys, value)

    # ---- the result ----

    def checked(self) -> tuple[ir.CheckedState, ...]:
        out = []
        for name, decl in self.decls.items():
            uses = [(h, kv) for (n, h), kv in self._uses.items() if n == name]
            out.append(
                ir.CheckedState(
                    name=name,
                    kind=decl.kind,
                    every=decl.every[0] if decl.every else None,
                    keep=decl.keep[0] if decl.keep else DEFAULT_KEEP,
                    limit=self.limits.get(name),
                    digest=_digest(decl),
                    span=decl.span,
                    per=tuple(_text(decl, k) for k in decl.keys),
                    keys=tuple((h, kv[0]) for h, kv in uses),
                    values=tuple((h, kv[1]) for h, kv in uses if kv[1] is not None),
                )
            )
        return tuple(out)

    def unused(self) -> list[Diagnostic]:
        found = []
        for name, decl in self.decls.items():
            if name not in self.recorded:
                verb = "add to it" if decl.kind == "counter" else "track it"
                found.append(
                    Diagnostic(
                        "GR0310",
                        Severity.WARNING,
                        f"state '{name}' is never updated, so it always reads 0",
                        decl.name.span,
                        hint=f"{verb} in a rule, or remove it",
                    )
                )
            elif name not in self.read:
                found.append(
                    Diagnostic(
                        "GR0311",
                        Severity.WARNING,
                        f"state '{name}' is updated but never read",
                        decl.name.span,
                        hint="read it in a rule's condition or reason, or remove it",
                    )
                )
        return found


def _digest(decl: ast.StateDecl) -> str:
    """What a state's stored keys mean: kind, window, key and value as written (spaces
    folded). A changed limit or `keep` keeps the counts; a changed key or window starts
    afresh rather than misread old keys."""
    every = decl.every[0] if decl.every else 0
    keys = [_text(decl, k) for k in decl.keys]
    parts = [decl.kind, str(every), *keys, "of", _text(decl, decl.value)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def _text(decl: ast.StateDecl, expr: ast.Expr | None) -> str:
    """An expression of the declaration as written, spaces folded."""
    if expr is None:
        return ""
    return re.sub(r"\s+", " ", decl.span.file.text[expr.span.start : expr.span.end])
