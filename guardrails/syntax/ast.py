"""The rules AST: frozen, slotted dataclasses, each carrying its source span.

The set of node types is closed (`Expr`, `Action`, `Item` unions): the checker and the
code generator dispatch on these classes and a test pins that every class is handled.
Nodes are never mutated; rewrites use `dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..source import SourceFile, Span

LiteralValue = int | float | str | bool | None


@dataclass(frozen=True, slots=True)
class Node:
    span: Span = field(kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Ident(Node):
    """A bare identifier in a header position (hook name, mode, code)."""

    name: str


# ---- expressions ----


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: LiteralValue


@dataclass(frozen=True, slots=True)
class RegexLit(Node):
    pattern: str
    flags: str


@dataclass(frozen=True, slots=True)
class ListExpr(Node):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Attr(Node):
    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index(Node):
    obj: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: Ident
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "not" | "-"
    operand: Expr


@dataclass(frozen=True, slots=True)
class BinOp(Node):
    op: str  # "+" | "-" | "*" | "/"
    left: Expr
    right: Expr
    op_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: str  # "==" "!=" "<" "<=" ">" ">=" "in" "not in" "contains" "startswith" ...
    left: Expr
    right: Expr
    op_span: Span = field(compare=False)


@dataclass(frozen=True, slots=True)
class BoolOp(Node):
    op: str  # "and" | "or"
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class MapExpr(Node):
    """`{"gpt-4o": 2.5, ...}`: string keys; a constant, so it belongs in a `let`."""

    items: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class Quantified(Node):
    """`any m in messages: COND` (also `all`, `count`, `filter`): `var` is bound to each
    element of `items` while `body` is evaluated."""

    kind: str  # any | all | count | filter
    var: Ident
    items: Expr
    body: Expr


Expr = (
    Literal | RegexLit | ListExpr | MapExpr | Name | Attr | Index | Call | Unary | BinOp | Compare
    | BoolOp | Quantified
)  # fmt: skip


# ---- actions ----


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A write target: a fact name followed by literal keys."""

    root: str
    keys: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Block(Node):
    """`block` or `warn`: both carry an optional reason and code."""

    kind: str  # "block" | "warn" | "continue" (checked into a block of the exit)
    reason: str | None
    code: Ident | None
    # the reason's text and `{fact}` parts (syntax/template.py); None: no interpolation
    template: tuple[str | Expr, ...] | None = None


@dataclass(frozen=True, slots=True)
class SetAction(Node):
    target: Path
    value: Expr


@dataclass(frozen=True, slots=True)
class Redact(Node):
    target: Path
    pattern: Expr  # a regex, string or let; or a detector (`pii`, `pii("US_SSN")`)
    replacement: str | None
    operator: str | None = None  # `with mask` / `with hash`: how each match is rewritten


@dataclass(frozen=True, slots=True)
class AddAction(Node):
    """`add EXPR to COUNTER`."""

    amount: Expr
    state: Ident


@dataclass(frozen=True, slots=True)
class TrackAction(Node):
    """`track STREAK`: this call's value (the streak's `of`) extends or restarts it."""

    state: Ident


Action = Block | SetAction | Redact | AddAction | TrackAction


# ---- items ----


@dataclass(frozen=True, slots=True)
class Let(Node):
    name: Ident
    value: Expr


@dataclass(frozen=True, slots=True)
class BreakerClause(Node):
    """`breaker 5 in 1m cooldown 30s` (durations in seconds, each with its token's
    span), or `breaker off` (`setting` holds the word)."""

    failures: tuple[int, Span] | None
    window: tuple[float, Span] | None
    cooldown: tuple[float, Span] | None
    setting: Ident | None = None


@dataclass(frozen=True, slots=True)
class Rule(Node):
    """A rule as written. `name` is None for an anonymous `on ...` one-liner."""

    name: Ident | None
    description: str | None
    hooks: tuple[tuple[Ident, ...], ...]  # one tuple per `on` clause (more than one is an error)
    modes: tuple[Ident, ...]
    on_errors: tuple[Ident, ...]
    since: tuple[str, Span] | None  # `since "2026-11-21"`: when the rule went into audit
    priorities: tuple[tuple[int, Span], ...]
    when: tuple[Expr, ...]
    unless: tuple[Expr, ...]
    actions: tuple[Action, ...]
    breakers: tuple[BreakerClause, ...] = ()  # more than one is an error


@dataclass(frozen=True, slots=True)
class StateDecl(Node):
    """`counter NAME per KEY, ... every 1h keep 1d limit N` or
    `streak NAME per KEY, ... of EXPR keep 1d`. Durations are in seconds here;
    each option is None when not written (an option written twice is an error)."""

    kind: str  # counter | streak
    name: Ident
    keys: tuple[Expr, ...]
    value: Expr | None  # a streak's `of`
    every: tuple[float, Span] | None
    keep: tuple[float, Span] | None
    limit: Expr | None
    repeated: tuple[Span, ...] = ()  # options written more than once


Item = Let | StateDecl | Rule


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed rules file."""

    file: SourceFile
    items: tuple[Item, ...]
