"""What the dashboard plots and counts beyond `guardrails report`'s totals: fires
over time, and how many distinct users and tenants a rule touched.

Both are fed the records `report()` reads (its `observe`) through a `Join`, so a
log is read once, by the same reader, with the same lines skipped. Memory stays
bounded whatever the log's size: a timeline keeps at most `max_buckets` buckets per
series and widens its buckets (to the next step, which the last one divides, so
counts merge exactly) when the log's span would need more; users and tenants are
kept as hashes, never as the values the log holds, and are counted exactly up to a
cap.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..rollout.counts import VERDICTS

# bucket widths in seconds; each divides the next, so widening merges buckets exactly
STEPS = (1, 10, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 120
# distinct users (tenants) counted exactly per rule; past it, the count says "at least"
DISTINCT_CAP = 100_000
# call ids whose call record or decisions wait for the other side of the join: the
# records of one call are written close together, so a window is enough
JOIN_WINDOW = 20_000

Series = tuple[str, str]  # rule, hook
Who = tuple[int | None, int | None]  # identity() of the call's user and tenant


def record_time(record: Mapping[str, Any]) -> float | None:
    stamp = record.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:  # records are written in UTC; a naive one is read so
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def step_label(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# the dates a datetime holds: a bucket widened around a record of year 1 or 9999
# starts or ends past them, and is shown at the end it passed
_FIRST = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC).timestamp()
_LAST = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC).timestamp()


def iso(seconds: float) -> str:
    moment = min(max(seconds, _FIRST), _LAST)
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat(timespec="seconds")


class Timeline:
    """Calls per hook and fires (and would-blocks) per rule, in time buckets."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self.max_buckets = max_buckets
        self.level = 0
        self.step = STEPS[0]
        self.low: int | None = None  # the first and last bucket's start
        self.high: int | None = None
        self.calls: dict[str, Counter[int]] = {}
        self.fires: dict[Series, Counter[int]] = {}
        self.would: dict[Series, Counter[int]] = {}
        self.untimed = 0  # records without a time they could be placed at

    def call(self, hook: str, moment: float | None) -> None:
        if moment is None:
            self.untimed += 1
            return
        bucket = self._place(moment)  # first: placing may widen, replacing the counters
        _counter(self.calls, hook)[bucket] += 1

    def fire(self, key: Series, verdict: str, moment: float | None) -> None:
        if moment is None:
            self.untimed += 1
            return
        bucket = self._place(moment)
        _counter(self.fires, key)[bucket] += 1
        if verdict == "would_block":
            _counter(self.would, key)[bucket] += 1

    def _place(self, moment: float) -> int:
        bucket = int(moment // self.step) * self.step
        low = bucket if self.low is None else min(self.low, bucket)
        high = bucket if self.high is None else max(self.high, bucket)
        while (high - low) // self.step + 1 > self.max_buckets:
            self._widen()
            bucket, low, high = (self._start(b) for b in (bucket, low, high))
        self.low, self.high = low, high
        return bucket

    def _start(self, moment: int) -> int:
        return moment // self.step * self.step

    def _widen(self) -> None:
        self.level += 1
        self.step = STEPS[self.level] if self.level < len(STEPS) else self.step * 2
        for table in (self.calls, self.fires, self.would):
            for key, counts in table.items():
                merged: Counter[int] = Counter()
                for bucket, n in counts.items():
                    merged[self._start(bucket)] += n
                table[key] = merged  # type: ignore[index]

    def buckets(self) -> list[int]:
        if self.low is None or self.high is None:
            return []
        return list(range(self.low, self.high + 1, self.step))

    def series(self, rule: str, hook: str) -> dict[str, Any]:
        """Dense per-bucket counts for one (rule, hook); `rate` is would-blocks (or,
        for a rule that enforces, fires) over the hook's calls in the bucket: the
        report's totals also leave out calls a rule was skipped on, a bucket does not."""
        times = self.buckets()
        fires = self.fires.get((rule, hook), Counter())
        would = self.would.get((rule, hook), Counter())
        calls = self.calls.get(hook, Counter())
        audit = bool(would)
        rates = []
        for b in times:
            hits = would[b] if audit else fires[b]
            rates.append(hits / calls[b] if calls[b] else None)
        return {
            "rule": rule,
            "hook": hook,
            "fires": [fires[b] for b in times],
            "would_block": [would[b] for b in times],
            "calls": [calls[b] for b in times],
            "rate": rates,
            "rate_of": "would_block" if audit else "fires",
        }

    def to_dict(self) -> dict[str, Any]:
        times = self.buckets()
        return {
            "step_seconds": self.step,
            "step": step_label(self.step),
            "buckets": [iso(b) for b in times],
            "first": iso(times[0]) if times else None,
            "last": iso(times[-1] + self.step) if times else None,
            "untimed": self.untimed,
        }


def _counter(table: dict[Any, Counter[int]], key: Any) -> Counter[int]:
    """`table[key]`, made on first use (setdefault would build a Counter per record)."""
    found = table.get(key)
    if found is None:
        found = table[key] = Counter()
    return found


def identity(value: Any) -> int | None:
    """A number standing for a user or tenant, never the value itself: a masked value
    counts by its hash, a user given as a mapping by its id when it has one. Python's
    hash of the text is enough to count distinct values (two that collide in 2**64
    count as one) and a fraction of a digest's cost on every call record."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        if "__masked__" in value:
            value = value["__masked__"]
        else:
            for key in ("id", "user_id", "sub", "email", "name"):
                if value.get(key) not in (None, ""):
                    value = value[key]
                    break
    return hash(value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str))


@dataclass
class Distinct:
    seen: set[int] = field(default_factory=set)
    full: bool = False  # past DISTINCT_CAP: the count is a lower bound

    def add(self, key: int | None) -> None:
        if key is None or key in self.seen:
            return
        if len(self.seen) >= DISTINCT_CAP:
            self.full = True
            return
        self.seen.add(key)

    def to_dict(self) -> dict[str, Any]:
        return {"count": len(self.seen), "at_least": self.full}


class Audience:
    """Distinct users and tenants per (rule, hook) among the calls it fired on, and
    in the whole log."""

    def __init__(self) -> None:
        self.users: dict[Series, Distinct] = {}
        self.tenants: dict[Series, Distinct] = {}
        self.all_users = Distinct()
        self.all_tenants = Distinct()
        self.unattributed = 0  # fires whose call record was not found

    def call(self, who: Who) -> None:
        self.all_users.add(who[0])
        self.all_tenants.add(who[1])

    def fire(self, key: Series, who: Who | None) -> None:
        if who is None:
            self.unattributed += 1
            return
        users, tenants = self.users.get(key), self.tenants.get(key)
        if users is None or tenants is None:  # once per rule: not a new set per fire
            users = self.users[key] = Distinct()
            tenants = self.tenants[key] = Distinct()
        users.add(who[0])
        tenants.add(who[1])

    def of(self, rule: str, hook: str) -> dict[str, Any]:
        return {
            "users": self.users.get((rule, hook), Distinct()).to_dict(),
            "tenants": self.tenants.get((rule, hook), Distinct()).to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.all_users.to_dict(),
            "tenants": self.all_tenants.to_dict(),
            "unattributed_fires": self.unattributed,
        }


Fire = tuple[Series, str, float | None]  # (rule, hook), verdict, the decision's own time


class Join:
    """Each decision record with its call record: the fire counts at the call's time
    (when the call was made, which a log written with `evaluate(now=...)` or merged
    from several writers may not give its decisions), for the call's user and tenant.

    A decision names its call (`call_id`); the call record (written with `capture`)
    holds the time and the `user` and `tenant` facts. The join waits in a window of
    recent call ids, either side first (a cpex host writes the call record before the
    rules run, `Policy.evaluate` after); a decision whose call is not found counts at
    its own time, for nobody."""

    def __init__(self, timeline: Timeline, audience: Audience, window: int = JOIN_WINDOW) -> None:
        self.timeline, self.audience, self.window = timeline, audience, window
        self.calls: OrderedDict[str, tuple[float | None, Who]] = OrderedDict()
        self.waiting: OrderedDict[str, list[Fire]] = OrderedDict()

    def add(self, record: Mapping[str, Any]) -> None:
        kind, call_id = record.get("kind"), record.get("call_id")
        if kind == "breaker":
            return
        if kind == "call":
            facts = record.get("facts")
            facts = facts if isinstance(facts, Mapping) else {}
            moment = record_time(record)
            who = (identity(facts.get("user")), identity(facts.get("tenant")))
            self.timeline.call(str(record.get("hook")), moment)
            self.audience.call(who)
            if not isinstance(call_id, str):
                return
            for fire in self.waiting.pop(call_id, []):
                self._count(fire, moment, who)
            self.calls[call_id] = (moment, who)
            if len(self.calls) > self.window:
                self.calls.popitem(last=False)
            return
        verdict = record.get("verdict")
        if verdict not in VERDICTS:
            return
        fire = (
            (str(record.get("rule")), str(record.get("hook"))),
            str(verdict),
            record_time(record),
        )
        if not isinstance(call_id, str):
            self._count(fire, None, None)
            return
        known = self.calls.get(call_id)
        if known is not None:
            self._count(fire, *known)
            return
        self.waiting.setdefault(call_id, []).append(fire)
        if len(self.waiting) > self.window:
            for dropped in self.waiting.popitem(last=False)[1]:
                self._count(dropped, None, None)

    def _count(self, fire: Fire, moment: float | None, who: Who | None) -> None:
        key, verdict, own = fire
        self.timeline.fire(key, verdict, moment if moment is not None else own)
        self.audience.fire(key, who)

    def finish(self) -> None:
        for fires in self.waiting.values():
            for fire in fires:
                self._count(fire, None, None)
        self.waiting.clear()
