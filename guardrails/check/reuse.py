"""A rule's check kept for the next check of the same ruleset (the language server's).

Checking a rule reads only the rule, the ruleset's lets and states, the catalog and
the host functions. So while those tables are unchanged, a rule whose AST is the
same object as last time (the server's parses keep the AST of what an edit did not
touch) has the same result: its IR, its diagnostics (kept relative to the rule's
start, as the rule may have moved), and the lets it marked used, which are marked
again so the "never used" lint stays exact. A rule whose check touched a state (whose
key is typed once per hook, by the first rule that uses it), whose diagnostics point
outside it, or one of whose diagnostics was dropped as a repeat of another rule's is
checked again each time; so is a rule whose kept diagnostics would now repeat an
earlier rule's. Everything else about the ruleset (duplicate ids, unused states, the
lints) is worked out again every time by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..diagnostics import Diagnostic, Severity
from ..syntax import ast
from . import ir
from .rules import RuleChecker

_Said = tuple[str, Severity, str, str | None, int, int]  # a diagnostic, offsets from the rule


@dataclass(slots=True)
class _Kept:
    rule: ast.Rule  # held, so no other rule gets its id()
    rule_id: str  # an anonymous rule's id has its line in it
    checked: ir.CheckedRule | None
    said: tuple[_Said, ...]
    lets: frozenset[str]


class RuleMemo:
    """Rule checks kept across the checks of one ruleset; `hits` counts the last one's
    reused rules."""

    def __init__(self) -> None:
        self._kept: dict[int, _Kept] = {}
        self._seen: set[int] = set()
        self._tables: object = None
        self.hits = 0

    def begin(self, tables: object) -> None:
        """A new check, under `tables` (the lets, states, catalog and functions): kept
        results are dropped when those differ from last time."""
        if tables != self._tables:
            self._kept.clear()
            self._tables = tables
        self._seen = set()
        self.hits = 0

    def end(self) -> None:
        """Forget rules that are gone."""
        self._kept = {k: v for k, v in self._kept.items() if k in self._seen}

    def check(self, checker: RuleChecker, rule: ast.Rule, index: int) -> ir.CheckedRule | None:
        self._seen.add(id(rule))
        rid = checker.rule_id(rule)
        kept = self._kept.get(id(rule))
        if kept is not None and kept.rule is rule and kept.rule_id == rid:
            base, file = rule.span.start, rule.span.file
            again = [
                Diagnostic(code, sev, msg, file.span(base + a, base + b), hint)
                for code, sev, msg, hint, a, b in kept.said
            ]
            if not any(d in checker.diags for d in again):
                checker.diags.extend(again)
                checker.lets.used.update(kept.lets)
                self.hits += 1
                if kept.checked is not None and kept.checked.index != index:
                    kept.checked = replace(kept.checked, index=index)
                return kept.checked
        return self._fresh(checker, rule, rid, index)

    def _fresh(
        self, checker: RuleChecker, rule: ast.Rule, rid: str, index: int
    ) -> ir.CheckedRule | None:
        lets, states = checker.lets, checker.states
        used, read, recorded = lets.used, states.read, states.recorded
        lets.used, states.read, states.recorded = set(), set(), set()
        before, uses = len(checker.diags), len(states._uses)
        checker.borrowed = False
        try:
            checked = checker.check(rule, index)
        finally:
            mine = lets.used
            touched = bool(states.read or states.recorded) or len(states._uses) != uses
            used |= mine
            read |= states.read
            recorded |= states.recorded
            lets.used, states.read, states.recorded = used, read, recorded
        span = rule.span
        diags = checker.diags[before:]
        inside = all(
            d.span.file is span.file and span.start <= d.span.start <= d.span.end <= span.end
            for d in diags
        )
        if inside and not touched and not checker.borrowed:
            said = tuple(
                (d.code, d.severity, d.message, d.hint, d.span.start - span.start,
                 d.span.end - span.start)
                for d in diags
            )  # fmt: skip
            self._kept[id(rule)] = _Kept(rule, rid, checked, said, frozenset(mine))
        else:
            self._kept.pop(id(rule), None)
        return checked
