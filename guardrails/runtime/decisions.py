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

    `facts` are the facts the rules saw, masked (see records/capture.py), or None.
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

    def to_dict(self) -> dict[str, Any]:
        return {
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


Record = DecisionRecord | CallRecord


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
