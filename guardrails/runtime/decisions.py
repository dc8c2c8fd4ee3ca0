"""The record data model: what one hook call leaves behind for an audit.

It lives in the runtime, beside `Verdict`, because a verdict builds its decision
records on demand (`Verdict.records`) and the runtime imports only the standard
library and itself. Where records go (sinks, the recorder thread, the log reader) is
`guardrails.records`: I/O and threads stay out of what the rules run on. Records
carry no payload values, only what the rules decided.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .verdict import RuleResult

FIRED = frozenset({"block", "warn", "modify", "would_block", "error"})


@dataclass(slots=True)  # read-only by convention (see RuleResult)
class DecisionRecord:
    rule: str
    location: str
    hook: str
    mode: str
    priority: int
    verdict: str
    code: str | None
    reason: str | None
    error: str | None
    changes: tuple[str, ...]
    ruleset: str
    time: float  # seconds since the epoch; `to_dict` renders it as ISO 8601 (UTC)
    request_id: str | None
    call_id: str | None = None  # links the decisions of one hook call to its call record
    notes: tuple[str, ...] = ()  # what the rule's host functions said (a judge's answer)

    @property
    def timestamp(self) -> str:
        return datetime.fromtimestamp(self.time, UTC).isoformat(timespec="microseconds")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "decision",
            "rule": self.rule,
            "location": self.location,
            "hook": self.hook,
            "mode": self.mode,
            "priority": self.priority,
            "verdict": self.verdict,
            "code": self.code,
            "reason": self.reason,
            "error": self.error,
            "changes": list(self.changes),
            "ruleset": self.ruleset,
            "timestamp": self.timestamp,
            "request_id": self.request_id,
            "call_id": self.call_id,
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class CallRecord:
    """One hook call, written when capture is on: what rollout tools replay and count.

    `facts` are the facts the rules saw, masked (see records/capture.py), or None;
    `derived` the derived facts the hook's rules read (`tokens`), worked out from the
    facts before masking, so that a replay has them when their source is masked.
    """

    hook: str
    ruleset: str
    time: float
    request_id: str | None
    call_id: str
    outcome: str
    blocked_by: str | None
    code: str | None
    duration_ms: float
    facts: dict[str, Any] | None
    derived: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "kind": "call",
            "hook": self.hook,
            "ruleset": self.ruleset,
            "timestamp": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="microseconds"),
            "request_id": self.request_id,
            "call_id": self.call_id,
            "outcome": self.outcome,
            "blocked_by": self.blocked_by,
            "code": self.code,
            "duration_ms": round(self.duration_ms, 4),
            "facts": self.facts,
        }
        if self.derived is not None:
            out["derived"] = self.derived
        return out


@dataclass(slots=True)
class BreakerRecord:
    """A circuit breaker changed state (runtime/breaker.py): `trip` (closed -> open),
    `probe` (open -> half_open: one call is let through), `reset` (the probe
    succeeded: closed) or `reopen` (it failed: open for a fresh cooldown).

    Written when it happens, whichever call made it happen; `hook` and `request_id`
    are that call's. `failures` is how many failures within the window tripped it (1
    for a reopen: the probe's)."""

    breaker: str  # the board's key: `rule:<id>@<digest>` for a rule's breaker
    rule: str | None
    change: str  # trip | probe | reset | reopen
    previous: str
    state: str  # closed | open | half_open
    failures: int
    window_ms: float
    cooldown_ms: float
    retry_in_ms: float | None  # when open: how long until a call may probe
    error: str | None  # the failure that opened it (types, never payload values)
    hook: str | None
    request_id: str | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "breaker",
            "breaker": self.breaker,
            "rule": self.rule,
            "change": self.change,
            "previous": self.previous,
            "state": self.state,
            "failures": self.failures,
            "window_ms": self.window_ms,
            "cooldown_ms": self.cooldown_ms,
            "retry_in_ms": self.retry_in_ms,
            "error": self.error,
            "hook": self.hook,
            "request_id": self.request_id,
            "timestamp": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="microseconds"),
        }


Record = DecisionRecord | CallRecord | BreakerRecord


def make_records(
    results: Iterable[RuleResult],
    ruleset: str,
    request_id: object,
    now: float | None = None,
    call_id: str | None = None,
) -> tuple[DecisionRecord, ...]:
    fired = [r for r in results if r.verdict in FIRED]
    if not fired:
        return ()
    if now is None:
        now = time.time()
    rid = request_id if isinstance(request_id, str) and request_id else None
    return tuple(
        DecisionRecord(
            rule=r.rule_id,
            location=r.location,
            hook=r.hook,
            mode=r.mode,
            priority=r.priority,
            verdict=r.verdict,
            code=r.code,
            reason=r.reason,
            error=r.error,
            changes=r.changes,
            ruleset=ruleset,
            time=now,
            request_id=rid,
            call_id=call_id,
            notes=r.notes,
        )
        for r in fired
    )
