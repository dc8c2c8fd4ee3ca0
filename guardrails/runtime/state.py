"""State kept across hook calls: what a call records and reads, and the in-memory store.

One hook call touches each state it uses once: the rules' `add`/`track` updates are
worked out from the call's facts first (a recording rule cannot read state, so
nothing it records depends on what another rule decides), then the store does every
read and update of the call in one atomic exchange, and the rules run on what the
state held *before* the call. That makes the check-then-count race impossible (two
replicas cannot both see "29 of 30" and both go ahead) and costs a networked store
one round trip per hook call however many rules touch state.

A store is anything with `exchange(ops, now) -> readings`; `MemoryStore` is the
default, `guardrails.adapters.redis_store.RedisStore` shares state between processes.
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .ops import RuleTypeError, type_name
from .state_keys import canonical as canonical  # noqa: PLC0414  (tests and hosts import it here)
from .state_keys import encode_key, value_digest

DEFAULT_KEEP = 86400.0  # an idle key of a state without a window lives a day
FIELDS = ("limit", "left", "resets_in", "resets_at")  # besides the value itself


class StateError(Exception):
    """The store could not do a call's exchange: the call's stateful rules fail closed."""


class StateFull(StateError):
    """The in-memory store is at its key cap and nothing in it has expired."""


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A declared state as the runtime needs it."""

    name: str
    kind: str  # counter | streak
    every: float | None  # fixed window, seconds
    keep: float  # how long an idle key lives (a windowed counter: until its window ends)
    limit: float | None
    digest: str  # of the declaration: a changed declaration never reads old keys
    per: tuple[str, ...] = ()  # the key's expressions as written (for tools and messages)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 1 µs a call; never mutated
class StateOp:
    """What one call does to one key of one state: read it, update it, or both."""

    spec: StateSpec
    key: str  # the key's values as canonical JSON (or their hash when long)
    read: bool
    amount: float = 0.0  # counter: added to the current window
    value: str | None = None  # streak: the digest of this call's value
    update: bool = False

    def storage_key(self, namespace: str, now: float) -> str:
        """The store's key: namespace, state, declaration, key and (for a windowed
        counter) the window's number, so stores on every replica agree on it."""
        spec = self.spec
        base = f"{namespace}:{spec.name}:{spec.digest}:{self.key}"
        if spec.every is not None:
            return f"{base}:{int(now // spec.every)}"
        return base

    def expires(self, now: float) -> float:
        """When the key is dropped if nothing updates it again."""
        every = self.spec.every
        if every is not None:
            return (now // every + 1) * every
        return now + self.spec.keep


@dataclass(slots=True)  # not frozen, as StateOp
class Reading:
    """A state before the call: a counter's total in the window, or how many calls in a
    row had this call's value; `ends` is when a windowed counter's window ends."""

    value: float
    ends: float | None = None


class Store(Protocol):
    def exchange(self, ops: Sequence[StateOp], now: float) -> list[Reading]:
        """Atomically read every op's state as it is, then apply every update; one
        reading per op, in order. Raises when it cannot (the rules fail closed).
        A store may also have a `clock()`: the time of a call that gives none (the
        corpus runs a case at the time the case names, through any host)."""
        ...


class MemoryStore:
    """State in this process: thread- and asyncio-safe (an exchange holds a lock and
    never awaits), bounded by `max_keys`. Expired keys are dropped when the cap is
    reached; if every key is still live, an exchange that needs a new key raises
    `StateFull`, so the call fails closed: evicting live keys would let whoever
    floods the store with keys reset their own budget. A full store sweeps only once
    some key may have expired: a sweep walks every key under the lock, and one per
    refused call would let the flooder stall every other caller too."""

    def __init__(self, max_keys: int = 100_000, namespace: str = "guardrails") -> None:
        self.max_keys = max_keys
        self.namespace = namespace
        self._data: dict[str, list[Any]] = {}  # key -> [value, expires, streak digest]
        self._lock = threading.Lock()
        self._live_until = math.inf  # no key expires before this

    def __len__(self) -> int:
        return len(self._data)

    def exchange(self, ops: Sequence[StateOp], now: float) -> list[Reading]:
        keys = [op.storage_key(self.namespace, now) for op in ops]
        with self._lock:
            entries: list[list[Any] | None] = []
            for key in keys:
                entry = self._data.get(key)
                if entry is not None and entry[1] <= now:
                    del self._data[key]
                    entry = None
                entries.append(entry)
            # room for every new key first: a call that fails applies none of its updates
            new = sum(op.update and e is None for op, e in zip(ops, entries, strict=True))
            if new and len(self._data) + new > self.max_keys:
                if now >= self._live_until:
                    self._sweep(now)
                if len(self._data) + new > self.max_keys:
                    raise StateFull(
                        f"the in-memory state store holds {self.max_keys} live keys "
                        "(raise max_keys, shorten `keep`, or use Redis)"
                    )
            readings: list[Reading] = []
            for op, key, entry in zip(ops, keys, entries, strict=True):
                readings.append(_read(op, entry, now))
                if op.update:
                    self._update(key, op, entry, now)
        return readings

    def _update(self, key: str, op: StateOp, entry: list[Any] | None, now: float) -> None:
        if entry is None:
            entry = self._data[key] = [0.0, 0.0, None]
        if op.spec.kind == "counter":
            entry[0] += op.amount
        elif entry[2] == op.value:
            entry[0] += 1
        else:
            entry[0], entry[2] = 1, op.value
        entry[1] = op.expires(now)
        self._live_until = min(self._live_until, entry[1])

    def sweep(self, now: float | None = None) -> int:
        """Drop expired keys; returns how many."""
        with self._lock:
            return self._sweep(time.time() if now is None else now)

    def _sweep(self, now: float) -> int:
        dead = [k for k, v in self._data.items() if v[1] <= now]
        for k in dead:
            del self._data[k]
        self._live_until = min((v[1] for v in self._data.values()), default=math.inf)
        return len(dead)

    def set(
        self,
        spec: StateSpec,
        key: tuple[Any, ...],
        value: float,
        now: float,
        of: Any = None,
    ) -> None:
        """Give a state a prior value (corpus cases, `guardrails eval --state`): a
        counter's total in the window `now` falls in, or for a streak, `value` calls in
        a row whose `of` value was `of`."""
        op = StateOp(spec, encode_key(key), read=False)
        # digested as `prepare` digests a call's value: the 1-tuple its function returns
        digest = value_digest((of,)) if spec.kind == "streak" else None
        with self._lock:
            count = float(value) if spec.kind == "counter" else int(value)
            self._data[op.storage_key(self.namespace, now)] = [count, op.expires(now), digest]
            self._live_until = min(self._live_until, op.expires(now))


def _read(op: StateOp, entry: list[Any] | None, now: float) -> Reading:
    ends = op.expires(now) if op.spec.every is not None else None
    if entry is None:
        return Reading(0, ends)
    if op.spec.kind == "streak":
        return Reading(entry[0] if entry[2] == op.value else 0)
    return Reading(entry[0], ends)


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
