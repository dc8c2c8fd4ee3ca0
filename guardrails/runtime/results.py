"""Per-rule results, and a verdict that lists every rule without running every rule.

`Policy.evaluate` promises a result for every rule of the hook (`pass` and `skipped`
included). A rule the equality index or the literal prefilter rules out can only
pass (or be skipped, after a block), so the engine runs only the candidates and the
verdict writes the other results when someone reads `rules`: 10,000 rules that cannot
fire cost one prefilter pass, not 10,000 calls and results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from .decisions import DecisionRecord, make_records
from .program import RuleProgram
from .state_plan import Snapshot
from .verdict import Outcome, RuleResult, RuleVerdict, Verdict

if TYPE_CHECKING:
    from .engine import HookRunner


def result(
    prog: RuleProgram,
    hook: str,
    verdict: RuleVerdict,
    code: str | None = None,
    reason: str | None = None,
    error: str | None = None,
    changes: tuple[str, ...] = (),
) -> RuleResult:
    # positional: keyword arguments make this call cost three times as much
    return RuleResult(
        prog.id, hook, prog.mode, prog.priority, verdict, prog.location, code, reason, error,
        changes,
    )  # fmt: skip


def recording(prog: RuleProgram, hook: str, snap: Snapshot | None) -> RuleResult:
    """A rule that only records: what it did in the call's exchange."""
    done = snap.recorded.get(prog.id) if snap is not None else None
    return result(prog, hook, "record" if done else "pass", changes=done or ())


_RULES = Verdict.__dict__["rules"]  # the slot under the `rules` property below
_COMPARED = tuple(f.name for f in fields(Verdict) if f.compare)


class CompletedVerdict(Verdict):
    """A Verdict whose `rules` holds the results of the rules that ran until it is
    read; then the rest are filled in, as a run of every rule would have given them."""

    __slots__ = ("_fill",)
    _fill: Completion | None

    @property
    def rules(self) -> tuple[RuleResult, ...]:
        fill: Completion | None = getattr(self, "_fill", None)  # unset: made by replace()
        if fill is not None:
            self._fill = None
            _RULES.__set__(self, fill.complete(_RULES.__get__(self)))
        rules: tuple[RuleResult, ...] = _RULES.__get__(self)
        return rules

    @rules.setter
    def rules(self, value: tuple[RuleResult, ...]) -> None:
        _RULES.__set__(self, value)

    def __eq__(self, other: object) -> bool:  # a Verdict with the same rules is equal
        if not isinstance(other, Verdict):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _COMPARED)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[Verdict], tuple[Any, ...]]:
        """Pickled or copied as the plain Verdict it stands for (every rule filled in)."""
        return Verdict, tuple(getattr(self, f.name) for f in fields(Verdict) if f.init)

    # what only fired rules make needs no filling in: the ran results hold them all
    @property
    def records(self) -> tuple[DecisionRecord, ...]:
        if self._records is None:
            ran = _RULES.__get__(self)
            self._records = make_records(
                ran, self.ruleset, self.request_id, self.time, self.call_id
            )
        return self._records

    @property
    def would_block(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in _RULES.__get__(self) if r.verdict == "would_block")

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in _RULES.__get__(self) if r.verdict == "warn")

    @property
    def errors(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in _RULES.__get__(self) if r.verdict == "error")


class Completion:
    """What filling in needs: which positions ran, and where the call was blocked."""

    __slots__ = ("blocked_at", "hook", "programs", "ran")

    def __init__(
        self, programs: Sequence[RuleProgram], hook: str, ran: list[int], blocked_at: int | None
    ) -> None:
        self.programs = programs
        self.hook = hook
        self.ran = ran
        self.blocked_at = blocked_at

    def complete(self, done: tuple[RuleResult, ...]) -> tuple[RuleResult, ...]:
        by_position = dict(zip(self.ran, done, strict=True))
        blocked_at = self.blocked_at
        out: list[RuleResult] = []
        for position, prog in enumerate(self.programs):
            found = by_position.get(position)
            if found is None:
                after = blocked_at is not None and position > blocked_at and not prog.after_block
                found = result(prog, self.hook, "skipped" if after else "pass")
            out.append(found)
        return tuple(out)


def completed(
    runner: HookRunner,
    payload: Mapping[str, Any],
    done: tuple[RuleResult, ...],
    ran: list[int],
    blocked_at: int | None,
    request_id: object,
    call_id: str | None,
    outcome: Outcome = "allow",
    blocked: RuleResult | None = None,
    now: float | None = None,
) -> Verdict:
    """A detailed run's verdict from the results of the rules that ran (`ran`); `now`
    stamps its records, as the engine's run does."""
    programs = runner.programs
    whole = len(ran) == len(programs)  # every rule ran: nothing to fill in
    verdict = (Verdict if whole else CompletedVerdict)(
        runner.hook, outcome,
        blocked.rule_id if blocked else None,
        blocked.code if blocked else None,
        blocked.reason if blocked else None,
        payload, done, runner.ruleset,
        (time.time() if now is None else now) if programs else 0.0,
        request_id, call_id,
    )  # fmt: skip
    if not whole:
        verdict._fill = Completion(programs, runner.hook, ran, blocked_at)  # type: ignore[attr-defined]
    return verdict
