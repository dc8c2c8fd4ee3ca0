"""Corpus coverage: which rules the cases make fire and pass, and which operands of
their conditions the cases see true and false (docs/testing.md, "Coverage").

Goals, over every rule of the ruleset and the cases of the rule's hooks:
- the rule **fires** on some case: its verdict is `block`, `would_block`, `warn`,
  `modify` or `record` (its condition held and its action was taken or, in audit or
  shadow, would have been);
- the rule **passes** on some case: it was evaluated and did not fire (only for a rule
  with a condition; one without fires on every call);
- every **operand** of its `when` and of its `unless` is seen **true** on some case
  and **false** on some case. The operands are the leaves of the condition's `and`/
  `or`/`not` tree, counted by position (the same test written twice is two
  operands); a quantifier (`any x in ...: ...`) or a call is one leaf. Conditions are
  read as written, left to right, with short-circuit: an operand that a case never
  reaches (`a and b` with `a` false), or whose evaluation fails, is neither true nor
  false on that case.

A rule skipped on a case (an earlier rule blocked the call) or whose circuit is open
is not evaluated on it: it neither fires nor passes, and its operands see nothing.
The verdicts are the compiled engine's; operand values come from re-evaluating the
condition with `--explain`'s interpreter (tooling/explain.py) on the facts and the
state each rule saw, which only a coverage run pays for. The percentage is the share
of goals met, over all rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..check import ir
from ..syntax import ast
from ..syntax.parser import parse
from .explain import Node, source, walk

FIRED = ("block", "would_block", "warn", "modify", "record")


@dataclass
class Operand:
    clause: str  # when | unless
    text: str
    true: int = 0  # cases that saw it true
    false: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"clause": self.clause, "operand": self.text, "true": self.true,
                "false": self.false}  # fmt: skip


@dataclass
class RuleCoverage:
    id: str
    location: str
    hooks: tuple[str, ...]
    conditional: bool
    clauses: tuple[tuple[str, ir.IR], ...]  # (when | unless, its expression)
    operands: list[Operand] = field(default_factory=list)
    cases: int = 0  # cases of its hooks that ran
    fired: int = 0
    passed: int = 0

    def goals(self) -> tuple[int, int]:
        """(met, total)."""
        met = (self.fired > 0) + (self.conditional and self.passed > 0)
        total = 1 + self.conditional
        for op in self.operands:
            met += (op.true > 0) + (op.false > 0)
            total += 2
        return met, total

    def to_dict(self) -> dict[str, Any]:
        met, total = self.goals()
        return {
            "rule": self.id, "location": self.location, "hooks": list(self.hooks),
            "cases": self.cases, "fired": self.fired,
            "passed": self.passed if self.conditional else None,
            "operands": [o.to_dict() for o in self.operands],
            "goals_met": met, "goals": total,
        }  # fmt: skip


class Coverage:
    """Coverage of one ruleset, filled one case at a time (`observe`)."""

    def __init__(self, policy: Any, root: Path | None = None) -> None:
        """`root`: rule locations are shown relative to it, when inside it."""
        checked: Mapping[str, ir.CheckedRule] = policy.checked_rules
        asts = _rule_asts(checked.values())
        self.rules: dict[str, RuleCoverage] = {}
        for prog in policy.compiled.programs:  # load order: files sorted, then as written
            rule = checked[prog.id]
            clauses = split_clauses(rule, asts.get((rule.span.file.path, rule.span.start)))
            self.rules[prog.id] = RuleCoverage(
                prog.id, _relative(rule.location, root), rule.hooks,
                rule.condition is not None, clauses,
                [Operand(name, source(leaf)) for name, expr in clauses for leaf in leaves(expr)],
            )  # fmt: skip
        self.cases = 0

    def observe(
        self, policy: Any, hook: str, facts: Mapping[str, Any], verdict: Any,
        read: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """One case's call: its verdict and the state its rules read."""
        self.cases += 1
        for step in walk(policy, hook, facts, verdict, read):
            rule = self.rules.get(step.prog.id)
            if rule is None:
                continue
            rule.cases += 1
            if step.verdict == "skipped" or step.skipped is not None:
                continue
            if step.verdict in FIRED:
                rule.fired += 1
            elif step.verdict == "pass":
                rule.passed += 1
            if step.tree is None:
                continue
            values: list[bool | None] = []
            _leaf_values(step.rule.condition, step.tree, values)  # type: ignore[arg-type]
            for operand, value in zip(rule.operands, values, strict=True):
                if value is True:
                    operand.true += 1
                elif value is False:
                    operand.false += 1

    def goals(self) -> tuple[int, int]:
        met = total = 0
        for rule in self.rules.values():
            m, t = rule.goals()
            met, total = met + m, total + t
        return met, total

    @property
    def percent(self) -> float:
        met, total = self.goals()
        return 100.0 * met / total if total else 100.0

    def never_fired(self) -> list[str]:
        return [r.id for r in self.rules.values() if r.fired == 0]

    def to_dict(self) -> dict[str, Any]:
        met, total = self.goals()
        return {
            "cases": self.cases, "goals_met": met, "goals": total,
            "percent": round(self.percent, 1), "never_fired": self.never_fired(),
            "rules": [r.to_dict() for r in self.rules.values()],
        }  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render(self) -> str:
        """The terminal table: a line per rule, a line per operand short of a goal."""
        width = max((len(r) for r in self.rules), default=4)
        lines = [f"{'rule':<{width}}  cases  fired  passed  operands  goals"]
        for rule in self.rules.values():
            met, total = rule.goals()
            passed = str(rule.passed) if rule.conditional else "-"
            seen = sum(o.true > 0 and o.false > 0 for o in rule.operands)
            lines.append(
                f"{rule.id:<{width}}  {rule.cases:>5}  {rule.fired:>5}  {passed:>6}  "
                f"{f'{seen}/{len(rule.operands)}':>8}  {met}/{total}"
            )
            for op in rule.operands:
                missing = [w for w, n in (("true", op.true), ("false", op.false)) if n == 0]
                if missing:
                    lines.append(f"  {op.clause} {op.text}: never {' or '.join(missing)}")
        met, total = self.goals()
        lines.append(f"coverage: {self.percent:.1f}% ({met}/{total} goals, {self.cases} cases)")
        never = self.never_fired()
        if never:
            lines.append(f"rules no case fires: {', '.join(never)}")
        return "\n".join(lines)


def _relative(location: str, root: Path | None) -> str:
    if root is None:
        return location
    try:
        return str(Path(location).resolve().relative_to(root.resolve()))
    except (ValueError, OSError):
        return location


def _rule_asts(rules: Iterable[ir.CheckedRule]) -> dict[tuple[str, int], ast.Rule]:
    """The rules as written, by (file, offset): whether a rule has `when`, `unless` or
    both is not in its checked condition (`when a unless b` is `a and not b`)."""
    out: dict[tuple[str, int], ast.Rule] = {}
    files = {r.span.file.path: r.span.file for r in rules}
    for path, file in files.items():
        module, _ = parse(file)
        for item in module.items:
            if isinstance(item, ast.Rule):
                out[(path, item.span.start)] = item
    return out


def split_clauses(rule: ir.CheckedRule, written: ast.Rule | None) -> tuple[tuple[str, ir.IR], ...]:
    """(`when` | `unless`, expression) of a checked rule, undoing how the checker joins
    them (check/rules.py: `when W unless U` is `W and not U`)."""
    cond = rule.condition
    if cond is None:
        return ()
    has_when = written is None or bool(written.when)
    has_unless = written is not None and bool(written.unless)
    if has_when and has_unless and isinstance(cond, ir.Op) and cond.op == "and":
        unless = cond.args[1]
        assert isinstance(unless, ir.Op) and unless.op == "not"
        return (("when", cond.args[0]), ("unless", unless.args[0]))
    if has_unless and not has_when and isinstance(cond, ir.Op) and cond.op == "not":
        return (("unless", cond.args[0]),)
    return (("when", cond),)


def leaves(expr: ir.IR) -> list[ir.IR]:
    if isinstance(expr, ir.Op) and expr.op in ("and", "or", "not"):
        return [leaf for arg in expr.args for leaf in leaves(arg)]
    return [expr]


def _leaf_values(expr: ir.IR, node: Node | None, out: list[bool | None]) -> None:
    """The value of each leaf of `expr` in the explanation `node` (None: not reached,
    or its evaluation failed), in the order of `leaves(expr)`."""
    if isinstance(expr, ir.Op) and expr.op in ("and", "or", "not"):
        reached = node is not None and node.evaluated
        children = node.children if reached and node is not None else []
        for i, arg in enumerate(expr.args):
            _leaf_values(arg, children[i] if i < len(children) else None, out)
        return
    if node is None or not node.evaluated or node.error is not None:
        out.append(None)
    else:
        out.append(bool(node.value))


def state_read(policy: Any, hook: str, facts: Mapping[str, Any], case: Any) -> dict[str, Any]:
    """What a case's rules read of their states, worked out again on a store seeded
    like the case's own (the run itself keeps no snapshot)."""
    from .seeding import DEFAULT_NOW, parse_now, seeded_store, state_specs

    runner = policy.compiled.runners.get(hook)
    if runner is None or runner.plan is None:
        return {}
    now = case.now if case.now is not None else parse_now(DEFAULT_NOW)
    store = seeded_store(policy, case.state, now, state_specs(policy))
    return dict(runner.plan.prepare(facts, store, now).values)
