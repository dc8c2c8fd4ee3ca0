"""Prior state: what a rule set's states held before a call, and when the call runs.

A corpus case (and `guardrails eval --state`) may say both:

    "now": "2026-12-03T10:15:00Z",
    "state": {
      "tokens_used": [{"key": ["alice"], "value": 95000}],
      "repeated_call": [{"key": ["s1"], "of": ["search", {"q": 1}], "count": 2}]
    }

A key is the values of the state's `per` expressions, in order (`[]` or no key for a
state without `per`); a counter entry gives its total in the window `now` falls in, a
streak entry the value its last calls had (`of`, as the streak's `of` expression
evaluates) and how many calls in a row had it (`count`). Shapes are checked when a
case is read; names, key lengths and kinds against the rules when the state is
seeded, since only then are the rules known.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..diagnostics import GuardrailsError
from ..policy.policy import Policy
from ..runtime.state import MemoryStore, Reading, StateOp, StateSpec, Store
from ..runtime.state_plan import Snapshot
from ..runtime.verdict import Verdict

# a case that names no time runs at this one, so windows and reset times in its
# snapshot are the same on every run
DEFAULT_NOW = "2026-01-01T00:00:00Z"
_ENTRY_KEYS = frozenset({"key", "value", "of", "count"})


class PriorStateError(GuardrailsError):
    """A prior state or time that cannot be used (the caller names the file)."""


@dataclass(frozen=True)
class Entry:
    """One key of one state, as it stood before the call."""

    state: str
    key: tuple[Any, ...] | None  # None: not given
    value: float | None = None  # a counter's total
    count: int | None = None  # a streak's run
    of: Any = None
    has_of: bool = False


def parse_now(value: object) -> float:
    """Epoch seconds of an ISO 8601 time with a zone (`2026-12-03T10:15:00Z`)."""
    if not isinstance(value, str):
        raise PriorStateError(f"'now' must be an ISO 8601 time such as {DEFAULT_NOW!r}")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise PriorStateError(
            f"'now' is not an ISO 8601 time: {value!r} (write e.g. {DEFAULT_NOW!r})"
        ) from None
    if moment.tzinfo is None:
        raise PriorStateError(f"'now' needs a time zone: {value!r} (write e.g. {DEFAULT_NOW!r})")
    return moment.timestamp()


def format_time(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_state(data: object) -> tuple[Entry, ...]:
    """The entries of a `state` object, its shape checked (not its names)."""
    if not isinstance(data, dict):
        raise PriorStateError("'state' must be an object: state name -> list of entries")
    entries: list[Entry] = []
    for name, items in data.items():
        if not isinstance(items, list):
            raise PriorStateError(f"state '{name}': give a list of entries, e.g. [{_example()}]")
        for i, item in enumerate(items):
            where = f"state '{name}' entry {i + 1}"
            if not isinstance(item, dict):
                raise PriorStateError(f"{where}: an entry is an object, e.g. {_example()}")
            extra = sorted(set(item) - _ENTRY_KEYS)
            if extra:
                raise PriorStateError(
                    f"{where}: unknown field {extra[0]!r} (an entry has key, value; a "
                    "streak's has key, of, count)"
                )
            key = item.get("key")
            if "key" in item and not isinstance(key, list):
                raise PriorStateError(f"{where}: 'key' is a list of the `per` values")
            value, count = item.get("value"), item.get("count")
            if "value" in item and not _finite(value):
                raise PriorStateError(f"{where}: 'value' must be a finite number")
            if "count" in item and not (type(count) is int and count >= 0):
                raise PriorStateError(f"{where}: 'count' must be a whole number of 0 or more")
            entries.append(
                Entry(
                    name,
                    tuple(key) if isinstance(key, list) else None,
                    value,
                    count,
                    item.get("of"),
                    "of" in item,
                )
            )
    return tuple(entries)


def _example() -> str:
    return '{"key": ["alice"], "value": 95000}'


def _finite(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def state_specs(policy: Policy) -> dict[str, StateSpec]:
    """Every state some rule of the policy reads or records, by name."""
    specs: dict[str, StateSpec] = {}
    for runner in policy.compiled.runners.values():
        if runner.plan is not None:
            for use in runner.plan.uses:
                specs[use.spec.name] = use.spec
    return specs


def seed(
    store: MemoryStore, entries: Sequence[Entry], specs: Mapping[str, StateSpec], now: float
) -> None:
    """Write the entries into `store` as they stood at `now`."""
    for entry in entries:
        spec = specs.get(entry.state)
        if spec is None:
            known = ", ".join(sorted(specs)) or "none"
            raise PriorStateError(
                f"no rule reads or records a state named '{entry.state}' (states: {known})"
            )
        per = ", ".join(spec.per)
        key = entry.key if entry.key is not None else ()
        if len(key) != len(spec.per):
            raise PriorStateError(
                f"state '{spec.name}' is kept per {per or 'nothing (one key)'}: its key has "
                f"{len(spec.per)} value(s), this one has {len(key)}"
                + (f' (write "key": [{", ".join("..." for _ in spec.per)}])' if per else "")
            )
        if spec.kind == "counter":
            if entry.has_of or entry.count is not None or entry.value is None:
                raise PriorStateError(
                    f"counter '{spec.name}': give its total as 'value' "
                    "('of' and 'count' are for streaks)"
                )
            store.set(spec, key, entry.value, now)
        else:
            if not entry.has_of or entry.count is None or entry.value is not None:
                raise PriorStateError(
                    f"streak '{spec.name}': give 'of' (the value its last calls had) and "
                    "'count' (how many calls in a row had it)"
                )
            store.set(spec, key, entry.count, now, of=entry.of)


def seeded_store(
    policy: Policy,
    entries: Sequence[Entry],
    now: float,
    specs: Mapping[str, StateSpec] | None = None,
) -> MemoryStore:
    store = MemoryStore()
    seed(store, entries, state_specs(policy) if specs is None else specs, now)
    return store


def evaluate_on(
    policy: Policy, hook: str, facts: Mapping[str, Any], store: Store, now: float | None
) -> tuple[Verdict, Snapshot | None]:
    """`policy.evaluate`, with the call's state exchanged with `store` instead of the
    policy's own (a replay, `guardrails eval`), so the policy's store, which may be
    the one production shares, is never read or written. Returns the state the
    rules read too (None on a hook without state)."""
    runner = policy.compiled.runners.get(hook)
    if runner is None or runner.plan is None:
        return policy.evaluate(hook, facts, now=now), None
    snap = runner.plan.prepare(facts, store, now)
    return runner.run(facts, state=snap, now=now), snap


Exchange = tuple[tuple[StateOp, ...], list[Reading]]


class CaseStore:
    """The store a corpus's policy is loaded with. It holds no state of its own: each
    run of a case (through evaluate, through cpex) gets a fresh, seeded `MemoryStore`
    behind it and the case's time as its clock, so cases stay independent and both
    runs start from the same state; what a run exchanged is kept for its snapshot."""

    def __init__(self) -> None:
        self._store = MemoryStore()
        self._now: float | None = None
        self.exchanges: list[Exchange] = []

    def begin(self, store: MemoryStore, now: float) -> None:
        self._store, self._now, self.exchanges = store, now, []

    def clock(self) -> float:
        return time.time() if self._now is None else self._now

    def exchange(self, ops: Sequence[StateOp], now: float) -> list[Reading]:
        # a case's time wins over a host's clock: its windows are the case's
        readings = self._store.exchange(ops, self.clock())
        self.exchanges.append((tuple(ops), readings))
        return readings


def exchange_lines(exchanges: Sequence[Exchange]) -> list[str]:
    """One line per state a call touched: its key, the value before and, for an
    update, after (`emails_sent ["s1"]: 4 -> 5`; a streak's run: `2 in a row -> 3`)."""
    lines = []
    for ops, readings in exchanges:
        for op, reading in zip(ops, readings, strict=True):
            spec, before = op.spec, reading.value
            text = f"{spec.name} {op.key}: "
            if spec.kind == "streak":  # the run of this call's value, which it extends
                text += f"{_num(before)} in a row" + (
                    f" -> {_num(before + 1)}" if op.update else ""
                )
            else:
                text += _num(before) + (f" -> {_num(before + op.amount)}" if op.update else "")
            lines.append(text)
    return lines


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.12g}"
