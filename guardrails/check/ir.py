"""The checker's output: resolved, typed rules. The code generator consumes only this.

Names are resolved (a `let` is folded into a `Const`, a fact becomes a `FactRef` with
its path), regexes are compiled, the rule's id, mode, priority and hooks are final.
Nothing here refers back to the syntax tree except spans, kept for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.breaker import BreakerConfig
from ..runtime.program import Block, Redact
from ..source import Span
from .types import Type

PathKey = str | int


@dataclass(frozen=True, slots=True)
class Const:
    value: object  # int | float | str | bool | None | tuple | Regex | tuple[Regex, ...]
    type: Type


@dataclass(frozen=True, slots=True)
class FactRef:
    path: tuple[PathKey, ...]  # from the facts root, e.g. ("tool", "args", "cmd")
    type: Type
    derived: str | None = None  # name of the derived fact at the head of the path


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[IR, ...]
    type: Type


@dataclass(frozen=True, slots=True)
class Op:
    """An operator or built-in call; `op` names its entry in `check/builtins.py` (or is
    one of the connectives `and`, `or`, `not`, which codegen writes as Python's)."""

    op: str
    args: tuple[IR, ...]
    type: Type


@dataclass(frozen=True, slots=True)
class StateRef:
    """A declared state as the call found it: `field` is "" for its value, else one of
    `runtime.state.FIELDS` (`tokens_used.left`)."""

    state: str
    field: str
    type: Type


@dataclass(frozen=True, slots=True)
class Local:
    """The element a quantifier is looking at (`m` in `any m in messages: ...`), and the
    keys read from it (`m.role`). `var` numbers the binding within its rule."""

    var: int
    path: tuple[PathKey, ...]
    type: Type
    name: str = ""  # as written, for explanations


@dataclass(frozen=True, slots=True)
class Quantified:
    """`any`/`all`/`count`/`filter` VAR in ITEMS: BODY; `body` is a typed condition."""

    kind: str
    var: int
    items: IR
    body: IR
    type: Type
    name: str = ""  # the bound name as written, for explanations


IR = Const | FactRef | ListOf | Op | StateRef | Local | Quantified


def children(node: IR) -> tuple[IR, ...]:
    """The sub-expressions of a node, for the passes that walk every one of them."""
    if isinstance(node, Op):
        return node.args
    if isinstance(node, ListOf):
        return node.items
    if isinstance(node, Quantified):
        return (node.items, node.body)
    return ()


# A block, a warn and a redact are already what the engine runs, so the IR carries the
# runtime's own classes (`Action` below); only `set` differs (its value is still an
# expression here, and a position in the rule function's result there), and a reason
# with `{fact}` parts (its typed parts here, a result position there). compile/loader.py
# maps both.


@dataclass(frozen=True, slots=True)
class SetAction:
    path: tuple[PathKey, ...]
    value: IR


@dataclass(frozen=True, slots=True)
class Record:
    """`add AMOUNT to COUNTER` (amount set) or `track STREAK` (amount None)."""

    state: str
    amount: IR | None


Action = Block | SetAction | Redact | Record


@dataclass(frozen=True, slots=True)
class CheckedState:
    """A declared state, with its key (and a streak's value) typed on every hook where a
    rule touches it."""

    name: str
    kind: str  # counter | streak
    every: float | None
    keep: float
    limit: float | None
    digest: str
    span: Span
    per: tuple[str, ...] = ()  # the key's expressions as written
    keys: tuple[tuple[str, tuple[IR, ...]], ...] = ()  # (hook, key expressions)
    values: tuple[tuple[str, IR], ...] = ()  # (hook, a streak's value)


@dataclass(frozen=True, slots=True)
class CheckedRule:
    id: str
    index: int  # position in load order (files sorted, then file order)
    description: str | None
    hooks: tuple[str, ...]
    mode: str
    on_error: str  # fail | ignore
    priority: int
    condition: IR | None  # None: always fires
    actions: tuple[Action, ...]
    span: Span
    # its `breaker` clause: thresholds, False for `breaker off`, None (load's default)
    breaker: BreakerConfig | bool | None = None

    @property
    def location(self) -> str:
        return f"{self.span.file.path}:{self.span.line}"

    @property
    def blocks(self) -> bool:
        return any(isinstance(a, Block) and a.kind == "block" for a in self.actions)

    @property
    def modifies(self) -> bool:
        return any(isinstance(a, SetAction | Redact) for a in self.actions)

    @property
    def records(self) -> tuple[str, ...]:
        """The states the rule's `add`/`track` actions update, in order."""
        return tuple(a.state for a in self.actions if isinstance(a, Record))

    @property
    def warn_only(self) -> bool:
        return not self.blocks and not self.modifies and not self.records


@dataclass(frozen=True, slots=True)
class CheckedRuleset:
    rules: tuple[CheckedRule, ...]
    sources: tuple[tuple[str, str], ...]  # (path, text) of every file, for the ruleset hash
    states: tuple[CheckedState, ...] = ()
