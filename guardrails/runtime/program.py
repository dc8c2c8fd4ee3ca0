"""What the engine runs: one compiled function per rule plus the rule's static data.

The runtime keeps its own small description of a rule (instead of importing the
checker's IR) so that `guardrails.runtime` depends on nothing but the standard library.
The action classes are the one model of an action: the checker's IR carries `Block`
and `Redact` as they are; only a `set` is translated (to `Assign`) by the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .breaker import BreakerConfig
from .modes import MODES, PHASE_ORDER
from .ops import DEFAULT_MAX_MATCH_CHARS, Regex

PathKey = str | int
RuleFn = Callable[[dict[str, Any], dict[str, Any]], "tuple[Any, ...] | None"]


@dataclass(frozen=True, slots=True)
class Block:
    kind: str  # block | warn
    reason: str  # as written; with `{fact}` parts, the rendered one is in the result
    code: str
    # a reason with `{fact}` parts: in the IR, its text and typed parts; in a program,
    # where the rule function's result holds the rendered reason (`template` emptied)
    template: tuple[object, ...] = ()
    reason_index: int | None = None


@dataclass(frozen=True, slots=True)
class Assign:
    path: tuple[PathKey, ...]
    value_index: int  # position of the value in the tuple the rule function returns


@dataclass(frozen=True, slots=True)
class Redact:
    path: tuple[PathKey, ...]
    patterns: tuple[Regex, ...]
    # None: each span becomes its entity type, `[US_SSN]` (a detector's redaction)
    replacement: str | None
    max_chars: int = DEFAULT_MAX_MATCH_CHARS
    # a detector's spans instead of the patterns' matches (check/detectors.finder):
    # text -> findings, each a string (its type) with `start`/`end`
    finder: Callable[[str], Sequence[Any]] | None = None
    operator: str = "replace"  # replace | mask | hash


@dataclass(frozen=True, slots=True)
class EditMessages:
    """`append`/`prepend` a message to a message list, or `replace` the text of the
    messages its patterns match (runtime/messages.py)."""

    kind: str  # append | prepend | replace
    path: tuple[PathKey, ...]
    value_index: int  # the message (append, prepend) or the new text (replace)
    roles: tuple[str, ...] = ()  # the roles the host takes for a new message
    patterns: tuple[Regex, ...] = ()  # replace only
    max_chars: int = DEFAULT_MAX_MATCH_CHARS
    # replace by a detector: a message matches when it finds something in its text
    finder: Callable[[str], Sequence[Any]] | None = None


Change = Assign | Redact | EditMessages
RuntimeAction = Block | Assign | Redact | EditMessages


@dataclass(frozen=True, slots=True)
class RuleProgram:
    id: str
    index: int
    description: str | None
    file: str
    line: int
    column: int
    hooks: tuple[str, ...]
    mode: str
    on_error: str
    priority: int
    actions: tuple[RuntimeAction, ...]
    fn: RuleFn
    reads: frozenset[str] = frozenset()  # top-level facts the rule reads (for lazy extraction)
    # (fact path, keys): the rule's leftmost condition is `path == key` / `path in keys`,
    # so it cannot fire unless the fact's value is one of the keys (see engine.HookRunner)
    index_key: tuple[tuple[PathKey, ...], frozenset[str | int]] | None = None
    # ((fact path, text functions, operator, constant), ...): text tests one of which
    # must hold for the rule to fire (see runtime/prefilter.py)
    literal_key: tuple[tuple[tuple[PathKey, ...], tuple[str, ...], str, str], ...] | None = None
    # the declared states the rule reads or updates (runtime/state.py); a rule that only
    # updates state (`records_only`) has its part done before the rules run
    states: frozenset[str] = frozenset()
    records: tuple[str, ...] = ()
    host_calls: frozenset[str] = frozenset()  # the host functions it calls (runtime/hostfn.py)
    # every fact path its expressions read: what an error's quoted text may show (quoting.py)
    paths: tuple[tuple[PathKey, ...], ...] = ()
    # its `breaker` clause (False: `breaker off`; None: the load option's default) and
    # a digest of its text, which keys its breaker (an edited rule starts closed)
    breaker: BreakerConfig | bool | None = None
    digest: str = ""
    # derived once from `actions`, read on every call
    block: Block | None = field(init=False, compare=False)
    warning: Block | None = field(init=False, compare=False)
    modifies: bool = field(init=False, compare=False)
    location: str = field(init=False, compare=False)  # "file:line"
    # what its mode lets it do (runtime/modes.py), read on every call
    after_block: bool = field(init=False, compare=False)
    shadow_block: bool = field(init=False, compare=False)
    applies_changes: bool = field(init=False, compare=False)
    records_only: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", f"{self.file}:{self.line}")
        blocks = [a for a in self.actions if isinstance(a, Block)]
        object.__setattr__(self, "block", next((a for a in blocks if a.kind == "block"), None))
        object.__setattr__(self, "warning", next((a for a in blocks if a.kind == "warn"), None))
        object.__setattr__(
            self,
            "modifies",
            any(isinstance(a, Assign | Redact | EditMessages) for a in self.actions),
        )
        object.__setattr__(
            self, "records_only", bool(self.records) and not blocks and not self.modifies
        )
        mode = MODES[self.mode]
        object.__setattr__(self, "after_block", mode.after_block)
        object.__setattr__(self, "shadow_block", mode.shadow)
        object.__setattr__(self, "applies_changes", mode.can_modify)

    @property
    def sort_key(self) -> tuple[int, int, int]:
        """cpex order: phase, then priority (lower first), then load order."""
        return (PHASE_ORDER[self.mode], self.priority, self.index)

    @property
    def warn_only(self) -> bool:
        return self.block is None and not self.modifies and not self.records
