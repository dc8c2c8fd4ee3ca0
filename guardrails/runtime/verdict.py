"""Verdicts: what one rule decided, and what the whole ruleset decided for one call."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .decisions import DecisionRecord, make_records

# `record`: a rule that only updates state did (shown with full detail only)
RuleVerdict = Literal[
    "pass", "block", "warn", "modify", "would_block", "error", "skipped", "record"
]
Outcome = Literal["allow", "block", "modify"]

ERROR_CODE = "GUARDRAIL_ERROR"


# Not frozen: these are built on every call that fires a rule, and a frozen dataclass
# costs ~1 µs more to construct. Treat them as read-only.
@dataclass(slots=True)
class RuleResult:
    rule_id: str
    hook: str
    mode: str
    priority: int
    verdict: RuleVerdict
    location: str
    code: str | None = None
    reason: str | None = None
    error: str | None = None
    changes: tuple[str, ...] = ()  # dotted paths the rule wrote
    notes: tuple[str, ...] = ()  # what the host functions it called said (a judge's answer)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "hook": self.hook,
            "mode": self.mode,
            "priority": self.priority,
            "verdict": self.verdict,
            "location": self.location,
            "code": self.code,
            "reason": self.reason,
            "error": self.error,
            "changes": list(self.changes),
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class Verdict:
    """The combined decision for one hook call, following cpex's phase semantics."""

    hook: str
    outcome: Outcome
    blocked_by: str | None
    code: str | None
    reason: str | None
    payload: Mapping[str, Any]
    rules: tuple[RuleResult, ...]
    # what decision records need besides the rules; records are built on first use,
    # so a hook call that nobody records pays nothing for them
    ruleset: str = ""
    time: float = 0.0
    request_id: object = None
    call_id: str | None = None
    _records: tuple[DecisionRecord, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def records(self) -> tuple[DecisionRecord, ...]:
        """One decision record per rule that fired."""
        if self._records is None:
            self._records = make_records(
                self.rules, self.ruleset, self.request_id, self.time, self.call_id
            )
        return self._records

    @property
    def allowed(self) -> bool:
        return self.outcome != "block"

    @property
    def would_block(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.verdict == "would_block")

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.verdict == "warn")

    @property
    def errors(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.verdict == "error")

    def rule(self, rule_id: str) -> RuleResult:
        for result in self.rules:
            if result.rule_id == rule_id:
                return result
        raise KeyError(rule_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "outcome": self.outcome,
            "blocked_by": self.blocked_by,
            "code": self.code,
            "reason": self.reason,
            "payload": _jsonable(self.payload),
            "rules": [r.to_dict() for r in self.rules],
            "records": [r.to_dict() for r in self.records],
        }


_MAX_DEPTH = 100


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Payload values as JSON-ready data; anything exotic becomes its type name, and
    anything nested deeper than 100 levels is cut (payloads are untrusted)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return "<nested too deep>"
    if isinstance(value, Mapping):
        return {_key(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    return f"<{type(value).__name__}>"


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    try:
        return str(key)
    except Exception:
        return f"<{type(key).__name__}>"
