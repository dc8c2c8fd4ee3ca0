"""Changed rules judged one by one, on calls that cannot be replayed whole.

A masked log leaves a call unreplayable when any rule of its hook reads masked text,
so a token budget beside an injection rule that reads `prompt` could never be
judged. Yet the budget's own result can be, on the facts the log kept, and when it
is the same under both rulesets the call's verdict cannot have changed: every other
rule is unchanged and sees the same facts, so it decides as it did.

That argument needs each changed rule to see, in the full run, the facts it sees
alone, and to leave nothing behind for the rules after it. So a changed rule is
judged alone only when it reads no state and changes nothing (no `set`, `redact`,
message edit), no rule before it on its hook (in either ruleset) changes anything,
and the rules both rulesets share run in the same order. Otherwise the call stays
unjudged for it. A different result alone is a change the replay reports (by rule:
`pass -> block BUDGET`), though not what the whole call's verdict became.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...policy.policy import Policy
from ...runtime.engine import HookRunner
from ...runtime.program import RuleProgram


class Isolation:
    def __init__(self, new: Policy, old: Policy, changed: set[str]) -> None:
        self.sides = (old, new)
        self.changed = changed
        self._isolable: dict[str, frozenset[str]] = {}
        self._runners: dict[tuple[int, str, str], HookRunner | None] = {}

    def isolable(self, hook: str) -> frozenset[str]:
        """The changed rules of `hook` that can be judged alone."""
        found = self._isolable.get(hook)
        if found is None:
            found = self._isolable[hook] = self._work_out(hook)
        return found

    def _work_out(self, hook: str) -> frozenset[str]:
        old, new = (side.programs(hook) for side in self.sides)
        shared = {p.id for p in old} & {p.id for p in new}
        if [p.id for p in old if p.id in shared] != [p.id for p in new if p.id in shared]:
            return frozenset()
        rules = {p.id for p in (*old, *new) if p.id in self.changed}
        return frozenset(r for r in rules if _alone(r, old) and _alone(r, new))

    def judge(self, hook: str, rule: str, facts: dict[str, Any]) -> tuple[str, str] | None:
        """(before, after) if the rule alone decides differently on `facts`."""
        before, after = (self._result(i, hook, rule, facts) for i in (0, 1))
        return (before, after) if before != after else None

    def _result(self, side: int, hook: str, rule: str, facts: dict[str, Any]) -> str:
        key = (side, hook, rule)
        if key not in self._runners:
            policy = self.sides[side]
            program = next((p for p in policy.programs(hook) if p.id == rule), None)
            self._runners[key] = (
                HookRunner(hook, (program,), policy.shadowed, policy.ruleset_hash)
                if program is not None
                else None
            )
        runner = self._runners[key]
        if runner is None:  # not in this ruleset: it does nothing
            return "pass"
        (result,) = runner.run(facts).rules
        return " ".join(part for part in (result.verdict, result.code) if part)


def _alone(rule: str, programs: Sequence[RuleProgram]) -> bool:
    for program in programs:
        if program.id == rule:
            return not (program.states or program.modifies)
        if program.modifies:  # a rule before it changes what it sees
            return False
    return True  # not in this ruleset
