"""`guardrails promote`: one rule from `mode audit` to enforcing, if its log allows.

The gate is the rule's would-block rate over enough evaluations; the edit is the
mode word alone, so the rest of the file stays as its author wrote it, and a file
that no longer loads afterwards is put back.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ...diagnostics import GuardrailsError
from ...policy.policy import load
from .counts import Report, report


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


@dataclass
class Gate:
    """The promote gate's answer for one rule on one report: `promote` and the
    console's dashboard both read it, so they never disagree on a rule."""

    rule: str
    evaluations: int
    would_blocks: int
    reasons: list[str]

    @property
    def rate(self) -> float | None:
        return self.would_blocks / self.evaluations if self.evaluations else None

    @property
    def allowed(self) -> bool:
        return not self.reasons


def gate(rep: Report, rule_id: str, max_rate: float, min_samples: int) -> Gate:
    """Enough evaluations (the calls the rule ran on, as in the report) and a
    would-block rate at most `max_rate`; a rule without call records fails it."""
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
    return Gate(rule_id, evaluations, would, reasons)


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
    from ...source import SourceFile
    from ...syntax import ast
    from ...syntax.parser import parse

    policy = load(rules)
    info = next((r for r in policy.rules if r.id == rule_id), None)
    if info is None:
        raise GuardrailsError(f"no rule {rule_id!r} in {rules}")
    if any(p.id == rule_id and p.records_only for p in policy.compiled.programs):
        raise GuardrailsError(
            f"rule {rule_id} only records state, which it does in every mode: "
            "there is nothing to promote"
        )
    source_path = Path(info.file)
    source = SourceFile.read(source_path, info.file)
    module, _ = parse(source)
    rule = next(
        i for i in module.items if isinstance(i, ast.Rule) and i.name and i.name.name == rule_id
    )
    if not rule.modes or rule.modes[0].name != "audit":
        raise GuardrailsError(f"rule {rule_id} is not in audit mode (nothing to promote)")
    verdict = gate(report(logs, policy), rule_id, max_rate, min_samples)
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
    allowed = verdict.allowed
    if allowed and not dry_run:
        source_path.write_text(new_text, encoding="utf-8")
        try:
            load(rules)  # the promoted rules must load, or the file goes back as it was
        except Exception:
            source_path.write_text(source.text, encoding="utf-8")
            raise
    return PromoteResult(
        rule_id, source_path, verdict.evaluations, verdict.would_blocks, allowed,
        verdict.reasons, diff,
    )  # fmt: skip
