"""Lints: warnings about rules that load but are probably wrong.

Each lint has a stable code, can be switched off (`check(..., disable={...})`,
`guardrails check --disable CODE`), and can be silenced for one rule or line with a
comment `# guardrails: ignore[GR0302]` on the rule's first line or the flagged line.
They work on the checked IR, so they see through `let`s and the rule's exact order,
and on the rules that checked clean only: a load with errors still gets the lints of
its other rules (a rule with an error is not linted; its error comes first).

GR0301  a rule can never fire (contradictory numeric bounds on one fact)
GR0302  a rule is shadowed by an earlier blocking rule whose condition it implies
GR0303  two rules with the same hook, mode, priority and condition act differently
GR0304  an audit rule has been in audit longer than the allowed age (its `since`)
GR0305  two rules of one phase set the same field on the same hook
"""

from __future__ import annotations

import bisect
import collections
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


class _Group:
    """Blockers with one conjunct set and one hook set, in the order they run."""

    def __init__(self, hooks: frozenset[str]) -> None:
        self.hooks = hooks
        self.members: list[tuple[tuple[int, int], int]] = []  # ((priority, index), position)
        self.orders: list[tuple[int, int]] = []
        self.first: list[int] = []  # first[i]: lowest position among the i+1 earliest

    def seal(self) -> None:
        self.members.sort()
        self.orders = [order for order, _ in self.members]
        lowest = self.members[0][1]  # a group has a member from the start
        for _, position in self.members:
            lowest = min(lowest, position)
            self.first.append(lowest)

    def first_before(self, order: tuple[int, int]) -> int | None:
        """Lowest position among the members that run before `order`."""
        count = bisect.bisect_left(self.orders, order)
        return self.first[count - 1] if count else None


def _shape(node: ir.IR) -> str:
    """A conjunct with its constants left out: `tool.name == "a"` -> `==(tool.name,_)`."""
    if isinstance(node, ir.FactRef):
        return ".".join(str(key) for key in node.path)
    if isinstance(node, ir.Op):
        return f"{node.op}({','.join(_shape(arg) for arg in node.args)})"
    if isinstance(node, ir.ListOf):
        return f"[{','.join(_shape(item) for item in node.items)}]"
    if isinstance(node, ir.Quantified):
        return f"{node.kind}({_shape(node.items)}:{_shape(node.body)})"
    if isinstance(node, ir.Local):
        return "$." + ".".join(str(key) for key in node.path)
    return "_"


class _Node:
    """A trie node: the blocker groups whose conjunct set ends here, and longer sets."""

    __slots__ = ("children", "groups")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.groups: list[_Group] = []


class _BlockerIndex:
    """Which sequential blocking rule shadows a rule, found without comparing every pair.

    A rule is shadowed by the first blocker (in load order) that runs before it, is on
    all of its hooks and whose conjuncts are a subset of its own. Blockers are grouped by
    (conjunct set, hook set), and the conjunct sets are paths of a trie, each sorted in
    one order. The sets inside a rule's are the paths made only of its conjuncts, so a
    walk that enters only those children finds them, touching no other branch; within
    a group, a binary search on the run order gives the earliest-loaded member that
    runs first. The walk is short unless thousands of blockers test the same facts in
    different combinations and the rule shares a long prefix with many of them.
    """

    def __init__(self, rules: Sequence[ir.CheckedRule]) -> None:
        self.rules = rules
        numbers: dict[ir.IR, int] = {}  # each conjunct hashed once: IR hashes are not cached
        self.conjuncts = [
            frozenset(numbers.setdefault(c, len(numbers)) for c in _conjuncts(rule.condition))
            if rule.mode == "sequential"
            else frozenset()
            for rule in rules
        ]
        grouped: dict[frozenset[int], dict[frozenset[str], _Group]] = {}
        for position, rule in enumerate(rules):
            if rule.mode == "sequential" and rule.blocks and rule.on_error == "fail":
                by_hooks = grouped.setdefault(self.conjuncts[position], {})
                hooks = frozenset(rule.hooks)
                if hooks not in by_hooks:
                    by_hooks[hooks] = _Group(hooks)
                by_hooks[hooks].members.append(((rule.priority, rule.index), position))
        # Paths go conjunct by conjunct in one order: tests of one fact together (so
        # `a == 1` and `a == 2` branch at the same depth), the rarer first.
        counts = collections.Counter(c for conjuncts in grouped for c in conjuncts)
        shapes = {c: _shape(conjunct) for conjunct, c in numbers.items() if c in counts}
        ordered = sorted(shapes, key=lambda c: (shapes[c], counts[c], c))
        rank = {c: i for i, c in enumerate(ordered)}
        self.root = _Node()
        for conjuncts, by_hooks in grouped.items():
            node = self.root
            for c in sorted(conjuncts, key=rank.__getitem__):
                node = node.children.setdefault(c, _Node())
            node.groups = list(by_hooks.values())
            for group in node.groups:
                group.seal()

    def first_shadowing(self, position: int) -> ir.CheckedRule | None:
        """The blocker that shadows the sequential rule at `position`, if any."""
        rule = self.rules[position]
        mine = self.conjuncts[position]
        hooks = frozenset(rule.hooks)
        order = (rule.priority, rule.index)
        best: int | None = None
        todo = [self.root]
        while todo:
            node = todo.pop()
            for group in node.groups:
                if hooks <= group.hooks:
                    first = group.first_before(order)
                    if first is not None and (best is None or first < best):
                        best = first
            if len(node.children) <= len(mine):
                todo.extend(child for c, child in node.children.items() if c in mine)
            else:
                todo.extend(node.children[c] for c in mine if c in node.children)
        return None if best is None else self.rules[best]


def _header_span(rule: ir.CheckedRule) -> Span:
    return rule.span.file.span(rule.span.start, rule.span.start + 4)


class _Linter:
    def __init__(self, today: datetime.date, audit_max_days: int) -> None:
        self.diags: list[Diagnostic] = []
        self.today = today
        self.audit_max_days = audit_max_days

    def warn(
        self,
        code: str,
        message: str,
        span: Span,
        hint: str | None = None,
        other: ir.CheckedRule | None = None,
    ) -> None:
        """`other`: the rule the warning names, shown to an editor as related."""
        related: tuple[tuple[str, Span], ...] = ()
        if other is not None:
            related = ((f"rule {other.id}", _header_span(other)),)
        self.diags.append(Diagnostic(code, Severity.WARNING, message, span, hint, related))

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
        index = _BlockerIndex(rules)
        for position, rule in enumerate(rules):
            if rule.mode != "sequential" or rule.records:  # it records before any rule runs
                continue
            earlier = index.first_shadowing(position)
            if earlier is not None:
                self.warn(
                    "GR0302",
                    f"rule {rule.id} never runs: {earlier.id} ({earlier.location}) blocks "
                    "first whenever it would fire",
                    _header_span(rule),
                    hint=f"give {rule.id} a lower priority than {earlier.id}, or remove it",
                    other=earlier,
                )

    def _conflicts(self, rules: Sequence[ir.CheckedRule]) -> None:
        seen: dict[tuple[object, ...], ir.CheckedRule] = {}
        for rule in rules:
            if rule.records:  # counting what a blocking rule tests is no conflict
                continue
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
                        other=other,
                    )

    def _double_sets(self, rules: Sequence[ir.CheckedRule]) -> None:
        writers: dict[tuple[str, str, tuple[ir.PathKey, ...]], ir.CheckedRule] = {}
        for rule in rules:
            for action in rule.actions:
                if not isinstance(action, ir.SetAction):
                    continue
                for hook in rule.hooks:
                    key = (hook, rule.mode, action.path)
                    other = writers.get(key)
                    if other is not None and other is not rule:
                        dotted = ".".join(str(k) for k in action.path)
                        self.warn(
                            "GR0305",
                            f"{other.id} and {rule.id} both set {dotted} on {hook} in the "
                            f"{rule.mode} phase: the later one wins",
                            _header_span(rule),
                            other=other,
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


# "never used" warnings (a let, a state never updated or never read): a syntax error
# drops the item it is in, which may be the one that uses it
UNUSED_CODES = frozenset({"GR0300", "GR0310", "GR0311"})


def without_unused(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics of a load with syntax errors: its "never used" warnings are
    dropped, since an item the parser could not read may be the use."""
    return [d for d in diags if d.code not in UNUSED_CODES]


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
