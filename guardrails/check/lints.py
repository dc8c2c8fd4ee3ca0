"""Lints: warnings about rules that load but are probably wrong.

Each lint has a stable code, can be switched off (`check(..., disable={...})`,
`guardrails check --disable CODE`), and can be silenced for one rule or line with a
comment `# guardrails: ignore[GR0302]` on the rule's first line or the flagged line.
They work on the checked IR, so they see through `let`s and the rule's exact order.

GR0301  a rule can never fire (contradictory numeric bounds on one fact)
GR0302  a rule is shadowed by an earlier blocking rule whose condition it implies
GR0303  two rules with the same hook, mode, priority and condition act differently
GR0304  an audit rule has been in audit longer than the allowed age (its `since`)
GR0305  two rules of one phase set the same field on the same hook
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Collection, Iterable, Sequence

from ..diagnostics import Diagnostic, Severity
from ..source import Span
from ..syntax import ast
from . import ir

LINT_CODES = ("GR0300", "GR0301", "GR0302", "GR0303", "GR0304", "GR0305")
DEFAULT_AUDIT_MAX_DAYS = 30
_SUPPRESS = re.compile(r"#\s*guardrails:\s*ignore\[([A-Z0-9, ]+)\]")


def _conjuncts(node: ir.IR | None) -> list[ir.IR]:
    if node is None:
        return []
    if isinstance(node, ir.Op) and node.op == "and":
        return _conjuncts(node.args[0]) + _conjuncts(node.args[1])
    return [node]


def _bound(node: ir.IR) -> tuple[tuple[ir.PathKey, ...], str, float] | None:
    """`fact OP number` as (path, op, number), constants on either side."""
    if not (isinstance(node, ir.Op) and node.op in ("<", "<=", ">", ">=", "==")):
        return None
    left, right = node.args
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
    op = node.op
    if isinstance(left, ir.Const) and isinstance(right, ir.FactRef):
        left, right, op = right, left, flip[op]
    if not (isinstance(left, ir.FactRef) and isinstance(right, ir.Const)):
        return None
    value = right.value
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return left.path, op, float(value)


def _contradictory(condition: ir.IR | None) -> bool:
    ranges: dict[tuple[ir.PathKey, ...], tuple[float, bool, float, bool]] = {}
    for conjunct in _conjuncts(condition):
        bound = _bound(conjunct)
        if bound is None:
            continue
        path, op, value = bound
        low, low_open, high, high_open = ranges.get(path, (-math.inf, False, math.inf, False))
        if op in (">", ">=", "=="):
            strict = op == ">"
            if value > low or (value == low and strict):
                low, low_open = value, strict
        if op in ("<", "<=", "=="):
            strict = op == "<"
            if value < high or (value == high and strict):
                high, high_open = value, strict
        ranges[path] = (low, low_open, high, high_open)
        if low > high or (low == high and (low_open or high_open)):
            return True
    return False


def _header_span(rule: ir.CheckedRule) -> Span:
    return rule.span.file.span(rule.span.start, rule.span.start + 4)


class _Linter:
    def __init__(self, today: datetime.date, audit_max_days: int) -> None:
        self.diags: list[Diagnostic] = []
        self.today = today
        self.audit_max_days = audit_max_days

    def warn(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, Severity.WARNING, message, span, hint))

    def run(self, rules: Sequence[ir.CheckedRule], modules: Sequence[ast.Module]) -> None:
        for rule in rules:
            if _contradictory(rule.condition):
                message = f"rule {rule.id} can never fire: its bounds contradict"
                hint = "check the comparisons joined by `and`"
                self.warn("GR0301", message, _header_span(rule), hint)
        self._shadowed(rules)
        self._conflicts(rules)
        self._double_sets(rules)
        self._audit_age(modules, {r.id: r for r in rules})

    def _shadowed(self, rules: Sequence[ir.CheckedRule]) -> None:
        blockers = [
            r for r in rules if r.mode == "sequential" and r.blocks and r.on_error == "fail"
        ]
        for rule in rules:
            if rule.mode != "sequential":
                continue
            mine = _conjuncts(rule.condition)
            for earlier in blockers:
                if earlier is rule or (earlier.priority, earlier.index) >= (
                    rule.priority,
                    rule.index,
                ):
                    continue
                if not set(rule.hooks) <= set(earlier.hooks):
                    continue
                theirs = _conjuncts(earlier.condition)
                if all(t in mine for t in theirs):
                    self.warn(
                        "GR0302",
                        f"rule {rule.id} never runs: {earlier.id} ({earlier.location}) blocks "
                        "first whenever it would fire",
                        _header_span(rule),
                        hint=f"give {rule.id} a lower priority than {earlier.id}, or remove it",
                    )
                    break

    def _conflicts(self, rules: Sequence[ir.CheckedRule]) -> None:
        seen: dict[tuple[object, ...], ir.CheckedRule] = {}
        for rule in rules:
            for hook in rule.hooks:
                key = (hook, rule.mode, rule.priority, rule.condition)
                other = seen.get(key)
                if other is None:
                    seen[key] = rule
                elif other.blocks != rule.blocks:
                    self.warn(
                        "GR0303",
                        f"rules {other.id} and {rule.id} test the same thing on {hook} at the "
                        "same priority but one blocks and the other does not",
                        _header_span(rule),
                        hint="merge them, or give them different priorities on purpose",
                    )

    def _double_sets(self, rules: Sequence[ir.CheckedRule]) -> None:
        writers: dict[tuple[str, str, tuple[ir.PathKey, ...]], ir.CheckedRule] = {}
        for rule in rules:
            phase = "sequential" if rule.mode == "sequential" else rule.mode
            for action in rule.actions:
                if not isinstance(action, ir.SetAction):
                    continue
                for hook in rule.hooks:
                    key = (hook, phase, action.path)
                    other = writers.get(key)
                    if other is not None and other is not rule:
                        dotted = ".".join(str(k) for k in action.path)
                        self.warn(
                            "GR0305",
                            f"{other.id} and {rule.id} both set {dotted} on {hook} in the "
                            f"{phase} phase: the later one wins",
                            _header_span(rule),
                        )
                    writers.setdefault(key, rule)

    def _audit_age(self, modules: Sequence[ast.Module], rules: dict[str, ir.CheckedRule]) -> None:
        for module in modules:
            for item in module.items:
                if not isinstance(item, ast.Rule) or item.since is None:
                    continue
                rid = item.name.name if item.name else f"{module.file.stem}:{item.span.line}"
                checked = rules.get(rid)
                if checked is None or checked.mode != "audit":
                    continue
                try:
                    since = datetime.date.fromisoformat(item.since[0])
                except ValueError:
                    continue  # the checker reports a bad date
                age = (self.today - since).days
                if age > self.audit_max_days:
                    self.warn(
                        "GR0304",
                        f"rule {rid} has been in audit mode for {age} days "
                        f"(since {since}; the limit is {self.audit_max_days})",
                        item.since[1],
                        hint=f"run `guardrails report` and `guardrails promote {rid}`, or move "
                        "the date",
                    )


def lint(
    ruleset: ir.CheckedRuleset,
    modules: Sequence[ast.Module],
    *,
    today: datetime.date | None = None,
    audit_max_days: int = DEFAULT_AUDIT_MAX_DAYS,
) -> list[Diagnostic]:
    linter = _Linter(today or datetime.date.today(), audit_max_days)
    linter.run(ruleset.rules, modules)
    return linter.diags


def filter_diagnostics(diags: Iterable[Diagnostic], disable: Collection[str]) -> list[Diagnostic]:
    """Drop disabled lint codes and warnings silenced by an ignore comment."""
    out = []
    for d in diags:
        if d.severity is Severity.WARNING and (d.code in disable or _silenced(d)):
            continue
        out.append(d)
    return out


def _silenced(d: Diagnostic) -> bool:
    line = d.span.file.line_text(d.line)
    match = _SUPPRESS.search(line)
    return match is not None and d.code in {c.strip() for c in match.group(1).split(",")}
