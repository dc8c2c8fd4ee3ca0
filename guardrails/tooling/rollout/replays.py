"""`guardrails replay`: recorded calls (or a corpus) re-evaluated with new rules.

A recorded call is replayable only if no rule reads a fact that capture masked:
the masked value is a hash, and a verdict on it would be a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...diagnostics import GuardrailsError
from ...policy.policy import Policy
from ...records import ReadStats
from ...records.capture import is_masked
from ..terminal import printable
from .counts import iter_logs


@dataclass
class Case:
    id: str
    hook: str
    facts: dict[str, Any]
    recorded: tuple[str, str | None, str | None] | None = None  # (outcome, blocked_by, code)


@dataclass
class Change:
    kind: str  # newly_blocked | newly_allowed | changed_block
    case: str
    hook: str
    before: str
    after: str


@dataclass
class ReplayResult:
    cases: int = 0
    not_replayable: int = 0
    changes: list[Change] = field(default_factory=list)

    def by_rule(self) -> dict[str, Counter[str]]:
        """rule -> kind -> count (the rule that now blocks, or that no longer does)."""
        out: dict[str, Counter[str]] = {}
        for change in self.changes:
            rule = (change.after if change.kind != "newly_allowed" else change.before).split(" ")[2]
            out.setdefault(rule, Counter())[change.kind] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "not_replayable": self.not_replayable,
            "changed": len(self.changes),
            "by_rule": {rule: dict(kinds) for rule, kinds in self.by_rule().items()},
            "changes": [vars(c) for c in self.changes],
        }


def cases_from_log(logs: Iterable[Path]) -> list[Case]:
    """Call records with facts, each with the outcome its decision records show."""
    calls: dict[str, Case] = {}
    blocks: dict[str, tuple[str, str | None]] = {}
    modified: set[str] = set()
    for record in iter_logs(logs, ReadStats()):
        call_id = record.get("call_id")
        if not isinstance(call_id, str):
            continue
        if record.get("kind") == "call":
            if isinstance(record.get("facts"), dict):
                calls[call_id] = Case(call_id, str(record.get("hook")), record["facts"])
        elif record.get("verdict") == "block" or (
            record.get("verdict") == "error"
            and record.get("code")
            and record.get("mode") != "audit"
        ):
            blocks.setdefault(call_id, (str(record.get("rule")), record.get("code")))
        elif record.get("verdict") == "modify":
            modified.add(call_id)
    for call_id, case in calls.items():
        if call_id in blocks:
            rule, code = blocks[call_id]
            case.recorded = ("block", rule, code)
        else:
            case.recorded = ("modify" if call_id in modified else "allow", None, None)
    return list(calls.values())


def cases_from_corpus(corpus: Path) -> list[Case]:
    from ..corpus import iter_cases, load_case

    return [
        Case(f"{hook}/{path.stem}", hook, load_case(path, hook).facts)
        for hook, path in iter_cases(corpus)
    ]


def _reads_masked(policy: Policy, hook: str, facts: dict[str, Any]) -> bool:
    reads = (
        set().union(*(p.reads for p in policy.programs(hook))) if policy.programs(hook) else set()
    )
    return any(_has_mask(facts.get(root)) for root in reads)


def _has_mask(value: Any) -> bool:
    if is_masked(value):
        return True
    if isinstance(value, dict):
        return any(_has_mask(v) for v in value.values())
    return False


def _describe(outcome: tuple[str, str | None, str | None]) -> str:
    kind, rule, code = outcome
    return f"block by {rule} code {code}" if kind == "block" else kind


def replay(
    candidate: Policy, cases: Iterable[Case], baseline: Policy | None = None
) -> ReplayResult:
    result = ReplayResult()
    for case in cases:
        if case.hook not in candidate.catalog:
            continue
        masked = _reads_masked(candidate, case.hook, case.facts) or (
            baseline is not None and _reads_masked(baseline, case.hook, case.facts)
        )
        if masked:
            result.not_replayable += 1
            continue
        result.cases += 1
        before: tuple[str, str | None, str | None]
        if baseline is not None:
            b = baseline.evaluate(case.hook, case.facts)
            before = (b.outcome, b.blocked_by, b.code)
        elif case.recorded is not None:
            before = case.recorded
        else:
            raise GuardrailsError("replaying a corpus needs --baseline RULES")
        v = candidate.evaluate(case.hook, case.facts)
        after = (v.outcome, v.blocked_by, v.code)
        was, now = before[0] == "block", after[0] == "block"
        kind = None
        if now and not was:
            kind = "newly_blocked"
        elif was and not now:
            kind = "newly_allowed"
        elif was and now and before[1:] != after[1:]:
            kind = "changed_block"
        if kind:
            result.changes.append(
                Change(kind, case.id, case.hook, _describe(before), _describe(after))
            )
    return result


def format_replay(result: ReplayResult, examples: int = 3) -> str:
    lines = [
        f"{result.cases} cases replayed, {result.not_replayable} not replayable "
        f"(a rule reads a masked fact), {len(result.changes)} changed"
    ]
    for rule, kinds in sorted(result.by_rule().items()):
        counts = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        lines.append(f"  {printable(rule)}: {counts}")
    for kind in ("newly_blocked", "newly_allowed", "changed_block"):
        shown = [c for c in result.changes if c.kind == kind][:examples]
        for c in shown:  # case ids, hooks, rules and codes can all come from the log
            lines.append(
                f"    {kind}: {printable(c.case)} ({printable(c.hook)}): "
                f"{printable(c.before)} -> {printable(c.after)}"
            )
    return "\n".join(lines)
