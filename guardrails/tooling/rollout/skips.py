"""Which calls a rule did not run on: those blocked before its turn.

A rule's rate is its fires over the calls it was evaluated on. After a block, the
rules that come later in cpex order (phase, priority, file order) are `skipped`, not
run, unless they run after a block (`fire_and_forget`): counting those calls as
evaluations would make a rule behind a busy blocker look quieter than it is, and
`promote` would gate on a rate diluted by calls the rule never saw.

A log says which rule blocked a call, not which rules were skipped, so the skips are
worked out from the order: a rule's place is (phase of its mode, priority, file,
line), which its decision records carry, and which `--rules` gives for the rules that
never fired. The blocker of a call is the `blocked_by` of its call record when the
record has one (`Policy.evaluate`), else the first of its blocking decisions in that
order (a cpex call record is written before the rules run). An `error` decision
blocked if its rule fails closed: known exactly with `--rules`, taken from its mode
without (an `on_error ignore` rule's error is then counted as a block).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from ...runtime.engine import fails_closed
from ...runtime.modes import MODES, PHASE_ORDER

if TYPE_CHECKING:
    from ...policy.policy import Policy

Place = tuple[int, int, str, int]  # phase, priority, file, line


def place(mode: object, priority: object, location: object) -> Place | None:
    """A rule's place in cpex order, from what a decision record says of it."""
    if not isinstance(mode, str) or mode not in PHASE_ORDER or not isinstance(priority, int):
        return None
    path, _, line = str(location).rpartition(":")
    return (PHASE_ORDER[mode], priority, path, int(line) if line.isdigit() else 0)


class Skips:
    """Fed every record of a log; then `skipped(rule, hook)` for each row."""

    def __init__(self, policy: Policy | None) -> None:
        self.policy = policy
        self.known: dict[str, tuple[Place, bool, bool]] = {}  # rule -> place, faf, fails closed
        if policy is not None:
            shadowed = policy.shadowed
            for p in policy.compiled.programs:
                where = (PHASE_ORDER[p.mode], p.priority, p.file, p.line)
                closed = fails_closed(p, p.id in shadowed)
                self.known[p.id] = (where, p.after_block, closed)
        self.seen: dict[str, tuple[Place, bool]] = {}  # rule -> from its decision records
        self.candidates: dict[str, list[tuple[str, str, Place, bool]]] = {}  # call -> blocks
        self.blocked_by: dict[str, str] = {}  # call -> the rule its call record names

    def call(self, record: dict[str, Any]) -> None:
        call_id, rule = record.get("call_id"), record.get("blocked_by")
        if record.get("outcome") == "block" and isinstance(call_id, str) and isinstance(rule, str):
            self.blocked_by[call_id] = rule

    def decision(self, record: dict[str, Any]) -> None:
        rule, mode = str(record.get("rule")), record.get("mode")
        where = place(mode, record.get("priority"), record.get("location"))
        if where is None:
            return
        if rule not in self.seen:
            self.seen[rule] = (where, MODES[str(mode)].after_block)
        verdict, call_id = record.get("verdict"), record.get("call_id")
        if verdict not in ("block", "error") or not isinstance(call_id, str):
            return
        exact = self.known.get(rule)
        closed = exact[2] if exact is not None else MODES[str(mode)].fails_closed
        blocking = verdict == "block" or closed
        entry = (rule, str(record.get("hook")), exact[0] if exact else where, blocking)
        self.candidates.setdefault(call_id, []).append(entry)

    def counts(self) -> Counter[tuple[str, Place]]:
        """(hook, the blocker's place) -> blocked calls."""
        out: Counter[tuple[str, Place]] = Counter()
        for call_id, found in self.candidates.items():
            named = self.blocked_by.get(call_id)
            chosen = [c for c in found if c[0] == named] if named else []
            if not chosen:
                chosen = sorted((c for c in found if c[3]), key=lambda c: c[2])[:1]
            for _, hook, where, _ in chosen:
                out[(hook, where)] += 1
        return out

    def skipped(self, rule: str, hook: str, blocked: Counter[tuple[str, Place]]) -> int:
        """Calls of `hook` blocked by a rule before `rule` (0 for a rule whose place is
        unknown, or that runs after a block)."""
        info = self.known.get(rule)
        mine = (info[0], info[1]) if info is not None else self.seen.get(rule)
        if mine is None or mine[1]:
            return 0
        return sum(n for (h, where), n in blocked.items() if h == hook and where < mine[0])
