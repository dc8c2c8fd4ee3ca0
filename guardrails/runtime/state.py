"""State kept across hook calls: the model of one exchange (`StateSpec`, `StateOp`,
`Reading`), the `Store` protocol and the in-memory store (`state_plan.py` works out
what one call records and reads).

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

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
