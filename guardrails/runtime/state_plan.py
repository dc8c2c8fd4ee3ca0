"""One hook call's state exchange: what its rules record and read (runtime/state.py
has the model and the stores).

`StatePlan.prepare` works out every `add`/`track` from the call's facts, asks the store
for one atomic exchange, and returns a `Snapshot`: the values the rules read, by cache
slot, and what failed (each failure fails only the rules that touch it).
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .ops import RuleTypeError, type_name
from .state import Reading, StateError, StateOp, StateSpec, Store
from .state_keys import encode_key, value_digest

# ---- one hook call: what its rules record and read ----

KeyFn = Callable[[Mapping[str, Any], dict[str, Any]], tuple[Any, ...]]
ValueFn = Callable[[Mapping[str, Any], dict[str, Any]], Any]
RecordFn = Callable[[Mapping[str, Any], dict[str, Any]], "tuple[Any, ...] | None"]


@dataclass(frozen=True, slots=True)
class StateUse:
    """A state the rules of one hook touch, with its key (and a streak's value)
    compiled for that hook, and the fields its readers read."""

    spec: StateSpec
    key: KeyFn
    value: ValueFn | None
    read: bool
    fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class Recording:
    """A rule's `add`/`track` actions: `fn` gives None when the rule does not fire,
    else one amount per action (None for a track)."""

    rule_id: str
    fn: RecordFn
    states: tuple[str, ...]


class Snapshot:
    """What one call's rules read (cache slots `@state` and `@state.field`), the rules
    that recorded, and what failed: the whole exchange, or a state's key, or a rule's
    amounts (each fails only the rules that touch it). A plain class: one is built per
    hook call, and the failure maps are rarely needed."""

    __slots__ = ("_failed_rules", "_failed_states", "error", "ops", "recorded", "values")

    def __init__(self, error: Exception | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.recorded: dict[str, tuple[str, ...]] = {}  # rule id -> states
        self.error = error
        self.ops: tuple[StateOp, ...] = ()
        self._failed_states: dict[str, Exception] | None = None
        self._failed_rules: dict[str, Exception] | None = None

    @property
    def failed_states(self) -> dict[str, Exception]:
        if self._failed_states is None:
            self._failed_states = {}
        return self._failed_states

    @property
    def failed_rules(self) -> dict[str, Exception]:
        if self._failed_rules is None:
            self._failed_rules = {}
        return self._failed_rules

    def problem(self, rule_id: str, states: frozenset[str]) -> Exception | None:
        if self.error is not None:
            return self.error
        err = self._failed_rules.get(rule_id) if self._failed_rules else None
        if err is not None:
            return err
        for name in states:
            err = self._failed_states.get(name) if self._failed_states else None
            if err is not None:
                return err
        return None

    @property
    def clean(self) -> bool:
        return self.error is None and not self._failed_states and not self._failed_rules


class StatePlan:
    """Every state a hook's rules touch and every rule there that records."""

    def __init__(self, uses: Sequence[StateUse], recordings: Sequence[Recording]) -> None:
        self.uses = tuple(uses)
        self.recordings = tuple(recordings)
        self._specs = {u.spec.name: u.spec for u in self.uses}
        # worked out once, not per call: each recording's actions as (position in its
        # output, state, a counter?), and where each state's readings go
        self._actions = tuple(
            (rec.rule_id, rec.fn, rec.states,
             tuple((i, s, self._is(s, "counter")) for i, s in enumerate(rec.states)))
            for rec in self.recordings
        )  # fmt: skip
        self._steps = tuple(
            (u.spec, u.spec.name, u.key, u.value, _Fill(u) if u.read else None) for u in self.uses
        )

    def prepare(
        self,
        facts: Mapping[str, Any],
        store: Store | None,
        now: float | None = None,
        cache: dict[str, Any] | None = None,
    ) -> Snapshot:
        """`cache`: the call's derived-fact cache, when the rules will run on the same
        facts next (so `tokens` is worked out once per call, not twice)."""
        snap = Snapshot()
        if store is None:
            snap.error = StateError("no state store is configured for these rules")
            return snap
        if now is None:  # a store may keep its own time (a corpus case's, a replay's)
            now = float(getattr(store, "clock", time.time)())
        if cache is None:
            cache = {}
        updates: dict[str, float] = {}  # state -> amount to add (0.0 for a streak)
        recorded = snap.recorded
        for rule_id, fn, states, actions in self._actions:
            try:
                out = fn(facts, cache)
                if out is None:
                    continue
                adds = []  # every amount is checked before any is added
                for i, name, counter in actions:
                    adds.append((name, _amount(out[i]) if counter else 0.0))
            except Exception as err:  # the rule fails closed; the others still record
                snap.failed_rules[rule_id] = err
                continue
            for name, amount in adds:
                updates[name] = updates.get(name, 0.0) + amount
            recorded[rule_id] = states
        ops: list[StateOp] = []
        fills: list[_Fill | None] = []
        for spec, name, key_fn, value_fn, fill in self._steps:
            found = updates.get(name)
            if fill is None and found is None:
                continue
            try:
                key = encode_key(key_fn(facts, cache))
                value = value_digest(value_fn(facts, cache)) if value_fn is not None else None
            except Exception as err:
                snap.failed_states[name] = err
                continue
            update = found is not None
            amount = found if found is not None else 0.0
            ops.append(StateOp(spec, key, fill is not None, amount, value, update))
            fills.append(fill)
        snap.ops = tuple(ops)
        if not ops:
            return snap
        values = snap.values
        try:  # a store that answers wrongly (too few readings, no numbers) fails closed too
            for fill, reading in zip(fills, store.exchange(ops, now), strict=True):
                if fill is not None:
                    fill.fill(values, reading, now)
        except Exception as err:
            snap.error = err if isinstance(err, StateError) else StateError(_describe(err))
        return snap

    def _is(self, name: str, kind: str) -> bool:
        return self._specs[name].kind == kind


def _amount(value: Any) -> float:
    """A counter only grows: a negative amount (perhaps from a payload field) would let a
    caller pay their own budget back, so it is an error, like a non-number."""
    kind = type(value)
    if ((kind is float and value - value == 0.0) or kind is int) and value >= 0:  # finite
        return float(value)
    if type(value) is bool or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleTypeError(f"`add` needs a finite number, got {type_name(value)}")
    if value < 0:
        raise RuleTypeError("`add` needs a number of zero or more, got a negative one")
    return float(value)


def _number(value: float) -> float | int:
    if type(value) is float:
        return int(value) if value.is_integer() else value
    return int(value) if float(value).is_integer() else value


class _Fill:
    """Where one state's readings go: its cache slots (`@name`, `@name.field`),
    named once per plan rather than per call."""

    __slots__ = ("at", "fields", "left", "limit", "limit_slot", "limit_value", "resets_at",
                 "resets_in", "slot")  # fmt: skip

    def __init__(self, use: StateUse) -> None:
        spec = use.spec
        self.slot = slot = "@" + spec.name
        self.fields = bool(use.fields)
        self.limit = spec.limit
        self.limit_value = _number(spec.limit) if spec.limit is not None else None
        self.limit_slot, self.left = slot + ".limit", slot + ".left"
        self.resets_in, self.resets_at = slot + ".resets_in", slot + ".resets_at"
        self.at = "resets_at" in use.fields

    def fill(self, values: dict[str, Any], reading: Reading, now: float) -> None:
        value = reading.value
        if type(value) is float and value.is_integer():
            values[self.slot] = int(value)
        else:
            values[self.slot] = _number(value)
        if not self.fields:
            return
        limit = self.limit
        if limit is not None:
            values[self.limit_slot] = self.limit_value
            values[self.left] = _number(max(limit - value, 0.0))
        ends = reading.ends
        if ends is not None:
            values[self.resets_in] = max(math.ceil(ends - now), 0)
            if self.at:
                at = datetime.datetime.fromtimestamp(ends, datetime.UTC)
                values[self.resets_at] = at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(err: BaseException) -> str:
    text = str(err)
    name = type(err).__name__
    return f"state store failed: {name}: {text}"[:200] if text else f"state store failed: {name}"
