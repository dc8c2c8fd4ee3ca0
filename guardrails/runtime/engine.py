"""Evaluate one hook call: run the rules in cpex's order and combine their verdicts.

Semantics follow cpex exactly (notes/cpex.md §3): phases sequential -> transform ->
audit -> concurrent -> fire_and_forget; priority order inside a phase, ties in load
order; a block stops every later rule except fire_and_forget ones, which run on the
original facts; sequential and transform changes are seen by later rules.

Fail closed: a rule that raises is an `error` verdict, and it blocks the call when
its mode can stop a call in cpex (sequential, transform, concurrent: cpex's default
`on_error=fail` aborts the hook), unless it is shadowed, warn-only or `on_error ignore`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .breaker import CLOSED, Breaker, Breakers
from .changes import apply_actions
from .hostfn import SCOPE, Scope
from .modes import MODES
from .ops import RuleLimitError, RuleTypeError, type_name
from .program import RuleProgram
from .quoting import described, summary
from .results import completed, recording, result
from .select import Selector
from .state import StateError, Store
from .state_plan import Snapshot, StatePlan
from .verdict import ERROR_CODE, Outcome, RuleResult, RuleVerdict, Verdict


class RuleBudgetError(RuleLimitError):
    """The rules of one hook call took longer than the policy's time budget."""

    from_input = False  # slowness is the rule's (or its functions'): it counts


class CircuitOpenError(Exception):
    """The rule was not run: its circuit breaker is open (runtime/breaker.py)."""


def fails_closed(program: RuleProgram, shadowed: bool) -> bool:
    return (
        MODES[program.mode].fails_closed
        and program.on_error == "fail"
        and not program.warn_only
        and not shadowed
    )


class HookRunner:
    """The rules of one hook (or of one cpex plugin group on one hook), ready to run.

    `programs` must be sorted by `RuleProgram.sort_key`. Rules whose leftmost
    condition is an equality (or `in`) test on a fact are indexed by the tested
    values, and rules that need a text test against a constant are found by the
    literal prefilter (runtime/select.py): in lean mode (`detail=False`, what host
    adapters use) a rule that cannot match is never called. That is exact, not a
    heuristic: such a rule would short-circuit to `pass` on a test that cannot raise.
    """

    def __init__(
        self,
        hook: str,
        programs: Sequence[RuleProgram],
        shadowed: Collection[str] = frozenset(),
        ruleset: str = "",
        time_budget: float | None = None,
        plan: StatePlan | None = None,
        store: Store | None = None,
        breakers: Breakers | None = None,
    ) -> None:
        self.hook = hook
        # the hook's state plan and store; a runner for part of a hook's rules (a cpex
        # plugin group) has none and is handed the call's snapshot instead
        self.plan = plan
        self.store = store
        self.time_budget = time_budget  # seconds for one hook call's rules; None: no limit
        self.programs = tuple(programs)
        self.shadowed = frozenset(shadowed)
        self.ruleset = ruleset
        # the policy's board, shared by every runner of every version of it; each
        # rule's breaker is looked up once here (None: the rule has none; a rule that
        # only records is never run, so it has none either)
        self.breakers = breakers
        found = [breakers.for_rule(p.id, p.digest, p.breaker)
                 if breakers is not None and not p.records_only else None
                 for p in self.programs]  # fmt: skip
        self._breakers: tuple[Breaker | None, ...] | None = tuple(found) if any(found) else None
        self._select = Selector(self.programs)
        self._reindex = self._select.selective
        # run even where the selector rules them out, for a verdict as a run of every
        # rule gives: a state problem or an open breaker makes an error
        self._stateful = [i for i, p in enumerate(self.programs) if p.states]
        self._guarded = [i for i, b in enumerate(self._breakers or ()) if b is not None]
        # the first rule that runs on the facts as the call began (the last phase)
        self._faf = next((i for i, p in enumerate(self.programs) if p.after_block),
                         len(self.programs))  # fmt: skip
        self.stateful = any(p.states for p in self.programs)
        # its rules call host functions: async hosts run it off their loop (hostrun)
        self.hosted = any(p.host_calls for p in self.programs)
        self._plain = not self.stateful and not self.hosted

    @property
    def indexed(self) -> int:
        return self._select.indexed

    def candidates(self, facts: Mapping[str, Any]) -> list[int]:
        """Positions of the rules that can fire on `facts`, in evaluation order."""
        return self._select.candidates(facts)

    def _order(self, work: Mapping[str, Any], original: Mapping[str, Any], after: int) -> list[int]:
        """The rules to run after position `after`: candidates on the facts as they
        are now, fire_and_forget ones on the facts as the call began (what they see);
        and, whatever the index says, the rules a run of every rule would see fail on
        a state problem or an open breaker, so that every host (lean or not) gives the
        verdict that run gives."""
        chosen = self._select.candidates(work)
        if work is not original and self._faf < len(self.programs):
            faf = self._faf
            chosen = [i for i in chosen if i < faf]
            chosen += [i for i in self._select.candidates(original) if i >= faf]
        if self._stateful or self._guarded:
            breakers = self._breakers
            extra = [i for i in self._guarded if breakers[i].state is not CLOSED]  # type: ignore[index,union-attr]
            chosen = sorted(set(chosen).union(self._stateful, extra))
        return [i for i in chosen if i > after] if after >= 0 else chosen

    def run(
        self,
        facts: object,
        *,
        detail: bool = True,
        input_error: Exception | None = None,
        request_id: object = None,
        call_id: str | None = None,
        state: Snapshot | None = None,
        now: float | None = None,
        host: Scope | None = None,
        complete: bool = False,
    ) -> Verdict:
        """Evaluate the rules on `facts`.

        `detail=True` gives a result for every rule (pass and skipped included);
        `detail=False` only for rules that fired, and skips rules the index rules out.
        `input_error` is set by a host adapter whose fact extraction failed: every rule
        then gets an `error` verdict (and the call fails closed). `state` is the call's
        state snapshot when someone else prepared it (see `prepare_state`); `now` the
        time state windows are reckoned at (default: the clock). `host` is the hook
        call's host function results when other runners of the call share them (cpex
        plugin groups); its budget is this run's. `complete` (with `detail=False`)
        runs only what can fire, as lean mode does, and returns the verdict of a
        detailed run: its `rules` fills in the rest when read (runtime/results.py).
        """
        hook = self.hook
        bad_input: Exception | None = input_error
        if bad_input is None and type(facts) is dict:
            original: dict[str, Any] = facts  # never mutated: changes are copy-on-write
        elif bad_input is None and isinstance(facts, Mapping):
            original = dict(facts)
        else:
            original = {}
            if bad_input is None:
                bad_input = RuleTypeError(f"facts must be a mapping, got {type_name(facts)}")
        programs = self.programs
        reindex = self._reindex and not detail and bad_input is None
        complete = complete and not detail and bad_input is None
        if detail or bad_input is not None:
            order: Sequence[int] = range(len(programs))
        else:  # what can fire, and what would fail closed (state, an open breaker)
            order = self._order(original, original, -1)
        ran: list[int] | None = [] if complete else None
        if request_id is None:
            request_id = original.get("request_id")
        plain = self._plain and state is None  # no state, no host functions
        if not order and bad_input is None and plain:  # nothing can fire
            if ran is not None:
                return completed(self, facts, (), ran, None, request_id, call_id, now=now)  # type: ignore[arg-type]
            return Verdict(hook, "allow", None, None, None, facts, (), self.ruleset, 0.0,  # type: ignore[arg-type]
                           request_id, call_id)  # fmt: skip
        detail = detail or complete
        shadowed = self.shadowed
        breakers = self._breakers
        work = original
        budget = self.time_budget
        # the budget covers the state exchange too: recording rules run there
        deadline = time.perf_counter() + budget if budget is not None else None
        snap = state
        scope: Scope | None = None
        seed: dict[str, Any] = {}
        cache: dict[str, Any] = {}
        if not plain:
            derived: dict[str, Any] = {}  # derived facts the exchange worked out
            if self.stateful and bad_input is None and snap is None:
                snap = self.prepare_state(original, now, derived)
            seed = snap.values if snap is not None else {}
            if self.hosted:  # host function calls: the budget they share, their results
                scope = host if host is not None else Scope()
                scope.deadline = deadline
                seed = {**seed, SCOPE: scope}
            cache = {**derived, **seed}
        troubled = snap is not None and not snap.clean
        # fire_and_forget rules read the facts as the call began, and derive from them
        faf_cache = dict(cache) if self._faf < len(programs) else cache
        # the budget ran out before this rule began (then its overrun is not its own)
        overran = breakers is not None and deadline is not None and time.perf_counter() > deadline
        results: list[RuleResult] = []
        blocked: RuleResult | None = None
        blocked_at: int | None = None
        modified = False

        restart: list[int] | None = []
        while restart is not None:  # again only when the index must choose anew
            restart = None
            for position in order:
                prog = programs[position]
                if ran is not None:  # exactly one result per rule run in detail
                    ran.append(position)
                faf = prog.after_block
                if blocked is not None and not faf:
                    if detail:  # a rule that only records ran when the call arrived: as then
                        if snap and prog.records_only and not snap.problem(prog.id, prog.states):
                            results.append(recording(prog, hook, snap))
                        else:
                            results.append(result(prog, hook, "skipped"))
                    continue
                before = len(results)
                guarded: Breaker | None = None  # set once the rule's breaker let it run
                try:
                    if bad_input is not None:
                        raise bad_input
                    if prog.states:
                        if troubled:
                            problem = snap.problem(prog.id, prog.states)  # type: ignore[union-attr]
                            if problem is not None:
                                raise problem
                        if prog.records_only:  # its update went into the exchange
                            if detail:
                                results.append(recording(prog, hook, snap))
                            continue
                    breaker = breakers[position] if breakers is not None else None
                    if breaker is not None:  # closed: no call, no lock (what allow() does)
                        if breaker.state is not CLOSED and (
                            overran or not breaker.allow(hook=hook, request_id=request_id)
                        ):
                            raise CircuitOpenError(breaker.open_reason())
                        # an overrun is this rule's only if the budget was left when it began
                        guarded = None if overran else breaker
                    out = prog.fn(original if faf else work, faf_cache if faf else cache)
                    if deadline is not None and time.perf_counter() > deadline:
                        overran = True
                        raise RuleBudgetError(
                            f"the hook call's rules ran over their time budget of "
                            f"{budget * 1000:.0f} ms"  # type: ignore[operator]
                        )
                    if guarded is not None:  # evaluated; a set/redact that fails on
                        if guarded.state is not CLOSED:  # this payload is not counted
                            guarded.success(hook=hook, request_id=request_id)
                        guarded = None
                    if out is None:
                        if detail:
                            results.append(result(prog, hook, "pass"))
                        continue
                    block = prog.block
                    if block is not None:
                        verdict: RuleVerdict = (
                            "would_block" if prog.shadow_block or prog.id in shadowed else "block"
                        )
                        reason = (
                            block.reason if block.reason_index is None else out[block.reason_index]
                        )
                        found = RuleResult(  # inline: one call less on the common path
                            prog.id, hook, prog.mode, prog.priority, verdict, prog.location,
                            block.code, reason,
                        )  # fmt: skip
                        results.append(found)
                        if verdict == "block":
                            blocked, blocked_at = found, position
                        continue
                    warning = prog.warning
                    code = warning.code if warning else None
                    reason = None
                    if warning is not None:
                        index = warning.reason_index
                        reason = warning.reason if index is None else out[index]
                    if prog.modifies and prog.applies_changes:
                        work, changes = apply_actions(prog, work, out)
                        if changes:
                            cache.clear()  # derived facts (tokens) may depend on what changed
                            cache.update(seed)
                            modified = True
                            results.append(
                                result(prog, hook, "modify", code, reason, changes=changes)
                            )
                            if reindex:  # the index chose on the facts before this change
                                restart = order = self._order(work, original, position)
                                break
                            continue
                    if warning is not None or not prog.applies_changes:
                        results.append(result(prog, hook, "warn", code, reason))
                    elif detail:  # fired, but its actions found nothing to change
                        results.append(result(prog, hook, "pass"))
                except Exception as err:  # fail closed: a broken rule is a decision, not a crash
                    if isinstance(err, CircuitOpenError):
                        message = "circuit open"
                        reason = f"rule {prog.id} not run: {err}"
                    else:  # the caller reads what a host function said; a log may not
                        # the payload's unreadable part may be any fact: `()` is all
                        paths = ((),) if err is bad_input else prog.paths
                        message = described(err, paths)
                        reason = described(err, paths, f"rule {prog.id} failed: ")
                        # what the payload caused is not counted (RuleTypeError.from_input)
                        if guarded is not None and not getattr(err, "from_input", False):
                            guarded.failure(summary(err), hook=hook, request_id=request_id)
                    found = result(prog, hook, "error", ERROR_CODE, reason, error=message)
                    results.append(found)
                    if fails_closed(prog, prog.id in shadowed) and blocked is None:
                        blocked, blocked_at = found, position
                finally:
                    if scope is not None and scope.notes:  # what its host functions said
                        for noted in results[before:]:
                            noted.notes = tuple(scope.notes)
                        scope.notes.clear()

        outcome: Outcome = "block" if blocked is not None else "modify" if modified else "allow"
        payload: Mapping[str, Any]
        if modified:
            payload = work
        elif bad_input is None:
            payload = facts  # type: ignore[assignment]
        else:
            payload = {}
        # decision records are stamped when the call's state windows are reckoned, as its
        # call record is: a replayed or back-dated call (`evaluate(now=...)`) keeps its time
        stamp = time.time() if now is None else now
        if ran is not None:
            return completed(self, payload, tuple(results), ran, blocked_at, request_id, call_id,
                             outcome, blocked, stamp)  # fmt: skip
        # positional: keyword arguments make this call cost three times as much
        if blocked is None:
            return Verdict(hook, outcome, None, None, None, payload, tuple(results), self.ruleset,
                           stamp if results else 0.0, request_id, call_id)  # fmt: skip
        return Verdict(hook, outcome, blocked.rule_id, blocked.code, blocked.reason, payload,
                       tuple(results), self.ruleset, stamp, request_id, call_id)  # fmt: skip

    def prepare_state(
        self,
        facts: Mapping[str, Any],
        now: float | None = None,
        cache: dict[str, Any] | None = None,
    ) -> Snapshot:
        """The call's state exchange: every update, then every read, in one store
        call. Only a runner holding the whole hook's plan may do it (once per call)."""
        if self.plan is None:
            return Snapshot(error=StateError("the call's state was not prepared"))
        return self.plan.prepare(facts, self.store, now, cache)


def evaluate(
    hook: str,
    programs: Sequence[RuleProgram],
    facts: object,
    shadowed: Collection[str] = frozenset(),
    ruleset: str = "",
) -> Verdict:
    """One-off evaluation with full detail (builds a HookRunner each call)."""
    return HookRunner(hook, programs, shadowed, ruleset).run(facts)
