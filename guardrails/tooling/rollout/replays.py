"""`guardrails replay`: recorded calls (or a corpus) re-evaluated with new rules.

A recorded call is replayable only if every rule of its hook has what it reads,
raw or derived (tooling/rollout/replayable.py): a masked value is a hash, and a
verdict on it would be a guess. Calls that a changed rule would have judged but that
cannot be replayed are counted per rule, and fail the gate unless accepted.

Rules with state decide on what earlier calls recorded, so a log is replayed in the
order its calls were made, each at the time it was made, through a fresh in-memory
store per ruleset: a rate limit replays as it happened, and the stores the rules use
in production are never read or written. A corpus case starts from its own prior
state (tooling/seeding.py), as in the snapshot tests.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...diagnostics import GuardrailsError
from ...policy.policy import Policy
from ...records import ReadStats
from ...runtime.state import MemoryStore
from ...runtime.verdict import Verdict
from ..seeding import DEFAULT_NOW, Entry, evaluate_on, parse_now, seeded_store
from ..terminal import printable
from .counts import iter_logs
from .isolated import Isolation
from .replayable import Missing, Reads, changed_rules, count_missing, hooks_of, replay_facts


@dataclass
class Case:
    id: str
    hook: str
    facts: dict[str, Any]
    recorded: tuple[str, str | None, str | None] | None = None  # (outcome, blocked_by, code)
    time: float | None = None  # a logged call: when it was made
    prior: tuple[Entry, ...] | None = None  # a corpus case: its own prior state
    derived: dict[str, Any] = field(default_factory=dict)  # captured derived facts
    ruleset: str | None = None  # a logged call: the ruleset that judged it


@dataclass
class Change:
    kind: str  # newly_blocked | newly_allowed | changed_block | rule_result (judged alone)
    case: str
    hook: str
    before: str
    after: str
    reason: str | None = None  # the blocking side's reason (replayed; None if recorded)
    rule: str | None = None  # a rule_result's rule


@dataclass
class ReplayResult:
    cases: int = 0
    not_replayable: int = 0
    changes: list[Change] = field(default_factory=list)
    # calls not replayed whose rules would have recorded state: later calls then read
    # the state without them, so a limit can read low
    state_gaps: int = 0
    # (rule, fact, why) -> calls where the rule lacked the fact
    missing: Counter[Missing] = field(default_factory=Counter)
    # changed rule -> calls of its hooks it could not be judged on: the gate
    unjudged: Counter[str] = field(default_factory=Counter)
    # on calls not replayable whole: changed rules judged alone (isolated.py), the
    # calls where one was, and where one decided differently
    alone: int = 0
    rule_changes: list[Change] = field(default_factory=list)
    allow_unreplayable: bool = False
    # without a baseline, which rules changed is unknown: every rule counts as changed
    baseline: bool = True

    @property
    def failed(self) -> bool:
        """What `guardrails replay` exits 1 for: a verdict changed, a changed rule
        judged alone decided differently, or a changed rule could not be judged on
        every call of its hooks (unless that was accepted)."""
        changed = bool(self.changes or self.rule_changes)
        return changed or (bool(self.unjudged) and not self.allow_unreplayable)

    def by_rule(self) -> dict[str, Counter[str]]:
        """rule -> kind -> count (the rule that now blocks, or that no longer does)."""
        out: dict[str, Counter[str]] = {}
        for change in self.changes:
            rule = (change.after if change.kind != "newly_allowed" else change.before).split(" ")[2]
            out.setdefault(rule, Counter())[change.kind] += 1
        return out

    def summary(self) -> dict[str, Any]:
        """The counts and gaps: what `replay --format json` and the console's replay
        panel both begin with."""
        return {
            "cases": self.cases,
            "not_replayable": self.not_replayable,
            "state_gaps": self.state_gaps,
            "missing": [
                {"rule": rule, "fact": fact, "why": why, "calls": n}
                for (rule, fact, why), n in sorted(self.missing.items())
            ],
            "not_replayable_for_changed_rules": dict(sorted(self.unjudged.items())),
            "failed": self.failed,
            "changed": len(self.changes),
            "judged_rule_by_rule": self.alone,
            "rule_changed": len(self.rule_changes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "allow_unreplayable": self.allow_unreplayable,
            "by_rule": {rule: dict(kinds) for rule, kinds in self.by_rule().items()},
            "changes": [vars(c) for c in self.changes],
            "rule_changes": [vars(c) for c in self.rule_changes],
        }


def cases_from_log(logs: Iterable[Path]) -> list[Case]:
    """Call records with facts, each with the outcome its decision records show, in
    the order the calls were made (log order where times tie)."""
    calls: dict[str, Case] = {}
    blocks: dict[str, tuple[str, str | None]] = {}
    modified: set[str] = set()
    for record in iter_logs(logs, ReadStats()):
        call_id = record.get("call_id")
        if not isinstance(call_id, str):
            continue
        if record.get("kind") == "call":
            if isinstance(record.get("facts"), dict):
                derived, ruleset = record.get("derived"), record.get("ruleset")
                calls[call_id] = Case(
                    call_id, str(record.get("hook")), record["facts"], time=_time(record),
                    derived=derived if isinstance(derived, dict) else {},
                    ruleset=ruleset if isinstance(ruleset, str) else None,
                )  # fmt: skip
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
    return in_time_order(calls.values())


def _time(record: dict[str, Any]) -> float | None:
    stamp = record.get("timestamp")
    try:
        moment = datetime.datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.timestamp()


def in_time_order(cases: Iterable[Case]) -> list[Case]:
    """Stable: calls of one time keep their order; calls with no time go last."""
    return sorted(cases, key=lambda c: (c.time is None, c.time or 0.0))


def cases_from_corpus(corpus: Path) -> list[Case]:
    from ..corpus import iter_cases, load_case

    cases = []
    for hook, path in iter_cases(corpus):
        case = load_case(path, hook)
        now = case.now if case.now is not None else parse_now(DEFAULT_NOW)
        cases.append(Case(case.id, hook, case.facts, time=now, prior=case.state))
    return cases


def _describe(outcome: tuple[str, str | None, str | None]) -> str:
    kind, rule, code = outcome
    return f"block by {rule} code {code}" if kind == "block" else kind


class _Replayer:
    """One ruleset's side of a replay: its own fresh store for a log, a fresh seeded
    one per corpus case."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.store = MemoryStore()
        self.stateful = {h for h, r in policy.compiled.runners.items() if r.plan is not None}
        self.reads = Reads(policy)

    def evaluate(self, case: Case, facts: dict[str, Any]) -> Verdict:
        if case.hook not in self.stateful:
            return self.policy.evaluate(case.hook, facts)
        store = self.store
        if case.prior is not None:
            try:
                store = seeded_store(self.policy, case.prior, case.time or 0.0)
            except GuardrailsError as err:
                raise GuardrailsError(f"{case.id}: {err}") from None
        return evaluate_on(self.policy, case.hook, facts, store, case.time)[0]

    def records(self, hook: str) -> bool:
        runner = self.policy.compiled.runners.get(hook)
        return runner is not None and runner.plan is not None and bool(runner.plan.recordings)


def replay(
    candidate: Policy,
    cases: Iterable[Case],
    baseline: Policy | None = None,
    allow_unreplayable: bool = False,
) -> ReplayResult:
    """Replay `cases` (logged calls are put in time order first) with `candidate`, and
    compare with `baseline` or with what the log recorded. `allow_unreplayable`: calls
    that changed rules would judge but that cannot be replayed do not fail the result."""
    result = ReplayResult(allow_unreplayable=allow_unreplayable, baseline=baseline is not None)
    new = _Replayer(candidate)
    old = _Replayer(baseline) if baseline is not None else None
    sides = [new] + ([old] if old is not None else [])
    ordered = in_time_order(cases)
    recorded = {c.ruleset for c in ordered if c.ruleset is not None}
    changed = changed_rules(candidate, baseline, recorded)
    judged = hooks_of([side.policy for side in sides], changed)
    alone = Isolation(candidate, baseline, changed) if baseline is not None else None
    for case in ordered:
        if case.hook not in candidate.catalog:
            continue
        missing = [
            m for side in sides for m in side.reads.missing(case.hook, case.facts, case.derived)
        ]
        if case.time is None:  # a stateful call's time decides its windows
            missing += [(p.id, "time", "not recorded") for side in sides
                        if case.hook in side.stateful
                        for p in side.policy.programs(case.hook) if p.states]  # fmt: skip
        if missing:
            result.not_replayable += 1
            count_missing(missing, result.missing)
            _judge_alone(result, alone, case, judged.get(case.hook, set()), missing)
            if case.prior is None and any(side.records(case.hook) for side in sides):
                result.state_gaps += 1
            continue
        facts = replay_facts(case.facts, case.derived)
        result.cases += 1
        before: tuple[str, str | None, str | None]
        if old is not None:
            b = old.evaluate(case, facts)
            before = (b.outcome, b.blocked_by, b.code)
        elif case.recorded is not None:
            before = case.recorded
        else:
            raise GuardrailsError("replaying a corpus needs --baseline RULES")
        v = new.evaluate(case, facts)
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
            reason = v.reason if now else (b.reason if old is not None else None)
            result.changes.append(
                Change(kind, case.id, case.hook, _describe(before), _describe(after), reason)
            )
    return result


def _judge_alone(
    result: ReplayResult,
    alone: Isolation | None,
    case: Case,
    rules: set[str],
    missing: list[Missing],
) -> None:
    """A call not replayable whole: each changed rule of its hook judged alone where
    it can be (isolated.py), counted as unjudged where it cannot."""
    lacking = {rule for rule, _, _ in missing}
    isolable = alone.isolable(case.hook) if alone is not None else frozenset()
    facts = replay_facts(case.facts, case.derived)
    judged = False
    for rule in sorted(rules):
        if alone is None or rule in lacking or rule not in isolable:
            result.unjudged[rule] += 1
            continue
        judged = True
        diff = alone.judge(case.hook, rule, facts)
        if diff is not None:
            before, after = (f"rule {rule}: {outcome}" for outcome in diff)
            result.rule_changes.append(
                Change("rule_result", case.id, case.hook, before, after, rule=rule)
            )
    result.alone += judged


def format_replay(result: ReplayResult, examples: int = 3) -> str:
    lines = [
        f"{result.cases} cases replayed, {result.not_replayable} not replayable, "
        f"{len(result.changes)} changed"
    ]
    for (rule, fact, why), n in sorted(result.missing.items()):  # ids come from the rules
        lines.append(f"  not replayable: {n} calls where {rule} reads {fact} ({why})")
    if result.alone:
        lines.append(
            f"  {result.alone} of them judged rule by rule for the changed rules, "
            f"{len(result.rule_changes)} rule results changed"
        )
    for c in result.rule_changes[:examples]:
        lines.append(
            f"    {printable(c.case)} ({printable(c.hook)}): {printable(c.before)} -> "
            f"{printable(c.after.split(': ', 1)[1])}"
        )
    if result.unjudged and not result.baseline:
        lines.append("  (without --baseline, every rule counts as changed)")
    for rule, n in sorted(result.unjudged.items()):
        lines.append(
            f"  changed rule {rule}: {n} calls of its hooks not replayed"
            + (" (accepted: --allow-unreplayable)" if result.allow_unreplayable else "")
        )
    if result.unjudged and not result.allow_unreplayable:
        lines.append(
            "  the change is not judged on every call: capture the facts these rules read "
            "(load(capture=Capture(mask=...))), or accept it with --allow-unreplayable"
        )
    if result.state_gaps:
        lines.append(
            f"  {result.state_gaps} of the calls not replayed would have updated state: "
            "later calls were replayed without them, so limits may read low"
        )
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
