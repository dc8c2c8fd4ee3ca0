"""Rollout tools over decision logs: report, replay and promote.

A decision log is JSON Lines from `JsonlSink`: decision records (one per rule that
fired) and, when the policy was loaded with `capture`, call records (one per hook
call, with masked facts). Logs are streamed, never loaded whole, so `report` runs in
constant memory on millions of records.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import GuardrailsError
from ..policy.policy import Policy, load
from ..records import ReadStats, read_records
from ..records.capture import is_masked
from .terminal import printable

VERDICTS = ("block", "would_block", "warn", "modify", "error")


# ---- report ----


@dataclass
class RuleStats:
    rule: str
    hook: str
    evaluations: int = 0
    fires: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None

    @property
    def fired(self) -> int:
        return sum(self.fires.values())

    @property
    def rate(self) -> float | None:
        return self.fired / self.evaluations if self.evaluations else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "hook": self.hook,
            "evaluations": self.evaluations,
            "fires": self.fired,
            **{verdict: self.fires.get(verdict, 0) for verdict in VERDICTS},
            "rate": self.rate,
            "first_seen": self.first,
            "last_seen": self.last,
            "top_codes": [code for code, _ in self.codes.most_common(3)],
        }


@dataclass
class Report:
    rules: list[RuleStats]
    calls: Counter[str]  # hook -> call records seen
    records: int
    skipped_lines: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "calls": dict(self.calls),
            "skipped_lines": self.skipped_lines,
            "rules": [r.to_dict() for r in self.rules],
        }


def _iter_logs(paths: Iterable[Path], stats: ReadStats) -> Iterator[dict[str, Any]]:
    for path in paths:
        yield from read_records(path, stats)


def report(
    logs: Iterable[Path],
    policy: Policy | None = None,
    progress: Callable[[int], None] | None = None,
    every: int = 200_000,
) -> Report:
    """Per (rule, hook): evaluations (call records of the hook), fires by verdict, rate,
    first/last seen and top codes. With `policy`, rules that never fired are listed too."""
    stats: dict[tuple[str, str], RuleStats] = {}
    calls: Counter[str] = Counter()
    read = ReadStats()
    count = 0
    for record in _iter_logs(logs, read):
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
        if record.get("kind") == "call":
            calls[str(record.get("hook"))] += 1
            continue
        key = (str(record.get("rule")), str(record.get("hook")))
        entry = stats.get(key)
        if entry is None:
            entry = stats[key] = RuleStats(*key)
        entry.fires[str(record.get("verdict"))] += 1
        code = record.get("code")
        if code:
            entry.codes[str(code)] += 1
        stamp = record.get("timestamp")
        if isinstance(stamp, str):
            if entry.first is None or stamp < entry.first:
                entry.first = stamp
            if entry.last is None or stamp > entry.last:
                entry.last = stamp
    if policy is not None:
        for info in policy.rules:
            for hook in info.hooks:
                stats.setdefault((info.id, hook), RuleStats(info.id, hook))
    for entry in stats.values():
        entry.evaluations = calls.get(entry.hook, 0)
    ordered = sorted(stats.values(), key=lambda s: (-s.fired, s.rule, s.hook))
    return Report(ordered, calls, count, read.skipped)


def format_report(rep: Report) -> str:
    header = (
        "rule",
        "hook",
        "evals",
        "fires",
        "block",
        "would",
        "warn",
        "modify",
        "error",
        "rate",
        "first seen",
        "last seen",
        "top codes",
    )
    rows: list[tuple[str, ...]] = [header]
    for s in rep.rules:  # every string from the log goes through printable()
        rate = f"{s.rate:.2%}" if s.rate is not None else "n/a"
        rows.append(
            (
                printable(s.rule),
                printable(s.hook),
                str(s.evaluations),
                str(s.fired),
                *(str(s.fires.get(v, 0)) for v in VERDICTS),
                rate,
                printable((s.first or "-")[:19]),
                printable((s.last or "-")[:19]),
                ",".join(printable(c) for c, _ in s.codes.most_common(3)) or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    never = [s for s in rep.rules if s.fired == 0]
    lines.append("")
    lines.append(
        f"{rep.records} records, {sum(rep.calls.values())} call records"
        + (f", {len(rep.skipped_lines)} unreadable lines skipped" if rep.skipped_lines else "")
    )
    if not rep.calls:
        lines.append("no call records: rates need a log written with load(..., capture=...)")
    if never:
        lines.append(
            "never fired (dead or untested): "
            + ", ".join(printable(r) for r in sorted({s.rule for s in never}))
        )
    return "\n".join(lines)


# ---- replay ----


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
    for record in _iter_logs(logs, ReadStats()):
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
    from .corpus import iter_cases, load_case

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


# ---- promote ----


@dataclass
class PromoteResult:
    rule: str
    file: Path
    evaluations: int
    would_blocks: int
    allowed: bool
    reasons: list[str]
    diff: str

    @property
    def rate(self) -> float | None:
        return self.would_blocks / self.evaluations if self.evaluations else None


def promote(
    rules: Path,
    rule_id: str,
    logs: Iterable[Path],
    max_rate: float,
    min_samples: int,
    to_mode: str = "sequential",
    dry_run: bool = False,
) -> PromoteResult:
    """Rewrite `mode audit` to `to_mode` for one rule, if the log says it is safe."""
    from ..source import SourceFile
    from ..syntax import ast
    from ..syntax.parser import parse

    policy = load(rules)
    info = next((r for r in policy.rules if r.id == rule_id), None)
    if info is None:
        raise GuardrailsError(f"no rule {rule_id!r} in {rules}")
    source_path = Path(info.file)
    source = SourceFile.read(source_path, info.file)
    module, _ = parse(source)
    rule = next(
        i for i in module.items if isinstance(i, ast.Rule) and i.name and i.name.name == rule_id
    )
    if not rule.modes or rule.modes[0].name != "audit":
        raise GuardrailsError(f"rule {rule_id} is not in audit mode (nothing to promote)")
    rep = report(logs, policy)
    rows = [s for s in rep.rules if s.rule == rule_id]
    evaluations = sum(s.evaluations for s in rows)
    would = sum(s.fires.get("would_block", 0) for s in rows)
    reasons = []
    if evaluations < min_samples:
        reasons.append(f"only {evaluations} evaluations in the log; --min-samples is {min_samples}")
    rate = would / evaluations if evaluations else None
    if rate is not None and rate > max_rate:
        reasons.append(f"would-block rate {rate:.2%} is over --max-rate {max_rate:.2%}")
    if rate is None:
        reasons.append("no call records for its hooks: log with load(..., capture=...)")
    span = rule.modes[0].span
    new_text = source.text[: span.start] + to_mode + source.text[span.end :]
    diff = "".join(
        difflib.unified_diff(
            source.text.splitlines(True),
            new_text.splitlines(True),
            str(source_path),
            str(source_path),
        )
    )
    allowed = not reasons
    if allowed and not dry_run:
        source_path.write_text(new_text, encoding="utf-8")
        try:
            load(rules)  # the promoted rules must load, or the file goes back as it was
        except Exception:
            source_path.write_text(source.text, encoding="utf-8")
            raise
    return PromoteResult(rule_id, source_path, evaluations, would, allowed, reasons, diff)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False)
