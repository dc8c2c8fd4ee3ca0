"""`guardrails report`: per rule and hook, how often it fired and how often it ran.

Logs are streamed, never loaded whole, so a report runs in constant memory on
millions of records. Every string from a log is printed through `printable()`: the
log was written by whatever process held the policy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...policy.policy import Policy
from ...records import ReadStats, read_records
from ..terminal import printable
from .skips import Skips

# what counts as a fire; a `record` verdict (a rule that only updates state) is not one:
# it is in no decision record, and counting it would make every call a fire
VERDICTS = ("block", "would_block", "warn", "modify", "error")


@dataclass
class RuleStats:
    rule: str
    hook: str
    evaluations: int = 0  # calls of its hook the rule ran on
    skipped: int = 0  # calls of its hook blocked before its turn (skips.py)
    fires: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None

    @property
    def fired(self) -> int:
        return sum(self.fires.get(verdict, 0) for verdict in VERDICTS)

    @property
    def rate(self) -> float | None:
        return self.fired / self.evaluations if self.evaluations else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "hook": self.hook,
            "evaluations": self.evaluations,
            "skipped": self.skipped,
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
    # rules that only update state (with `rules`): they never fire, so they are not
    # "never fired (dead or untested)"; an error of theirs still shows as a fire
    recording: list[str] = field(default_factory=list)
    damaged: dict[str, list[int]] = field(default_factory=dict)  # file -> skipped lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "calls": dict(self.calls),
            "skipped_lines": self.skipped_lines,
            "damaged": self.damaged,
            "rules": [r.to_dict() for r in self.rules],
            "only_record_state": self.recording,
        }


def iter_logs(paths: Iterable[Path], stats: ReadStats) -> Iterator[dict[str, Any]]:
    for path in paths:
        yield from read_records(path, stats)


def report(
    logs: Iterable[Path],
    policy: Policy | None = None,
    progress: Callable[[int], None] | None = None,
    every: int = 200_000,
    observe: Callable[[dict[str, Any]], None] | None = None,
) -> Report:
    """Per (rule, hook): evaluations (call records of the hook, less the calls blocked
    before the rule's turn), fires by verdict, rate (fires per evaluation), first/last
    seen and top codes. With `policy`, rules that never fired are listed too, and the
    order of rules (which the skips depend on) is the policy's. `observe` sees every
    record read, so a caller that needs more than these totals (the console's
    timelines) reads a log once, with the same reader and the same skipped lines."""
    stats: dict[tuple[str, str], RuleStats] = {}
    calls: Counter[str] = Counter()
    skips = Skips(policy)
    read = ReadStats()
    count = 0
    for record in iter_logs(logs, read):
        count += 1
        if observe is not None:
            observe(record)
        if progress is not None and count % every == 0:
            progress(count)
        if record.get("kind") == "call":
            calls[str(record.get("hook"))] += 1
            skips.call(record)
            continue
        if record.get("kind") == "breaker":  # a breaker's change of state, not a decision
            continue
        skips.decision(record)
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
    recording: list[str] = []
    if policy is not None:
        recording = sorted({p.id for p in policy.compiled.programs if p.records_only})
        for info in policy.rules:
            if info.id in recording:
                continue
            for hook in info.hooks:
                stats.setdefault((info.id, hook), RuleStats(info.id, hook))
    blocked = skips.counts()
    for entry in stats.values():
        entry.skipped = skips.skipped(entry.rule, entry.hook, blocked)
        entry.evaluations = max(0, calls.get(entry.hook, 0) - entry.skipped)
    ordered = sorted(stats.values(), key=lambda s: (-s.fired, s.rule, s.hook))
    return Report(ordered, calls, count, read.skipped, recording, read.damaged)


def format_report(rep: Report) -> str:
    header = (
        "rule",
        "hook",
        "evals",
        "skipped",
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
                str(s.skipped),
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
    never = [s for s in rep.rules if s.fired == 0 and s.rule not in rep.recording]
    lines.append("")
    lines.append(
        f"{rep.records} records, {sum(rep.calls.values())} call records"
        + (f", {len(rep.skipped_lines)} unreadable lines skipped" if rep.skipped_lines else "")
    )
    for path, numbers in rep.damaged.items():
        shown = ", ".join(str(n) for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")
        lines.append(f"  {printable(path)}: line {shown} not a record (torn or corrupt)")
    if not rep.calls:
        lines.append("no call records: rates need a log written with load(..., capture=...)")
    if never:
        lines.append(
            "never fired (dead or untested): "
            + ", ".join(printable(r) for r in sorted({s.rule for s in never}))
        )
    if rep.recording:
        lines.append("only record state (never in decision records): " + ", ".join(rep.recording))
    return "\n".join(lines)
