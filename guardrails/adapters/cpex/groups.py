"""cpex's shape of a ruleset: a mode's rules over one or more priorities, one plugin each.

cpex costs ~25-60 µs per plugin per call, so rules never get a plugin each. By default
(`barriers=None`) a plugin runs the rules of one mode and one priority, so ordering
against anyone else's plugins is exactly cpex's. Where we know every other plugin of
the manager (`barriers`: the other plugins' modes, priorities and hooks), consecutive
priorities of a mode share one plugin unless another plugin of that mode on one of
their hooks has a priority in the span: then cpex's order cannot tell the difference
(see `segments`). Inside a plugin the rules run in cpex's order, phase, priority,
load order, so fusing changes no verdict.

A plugin's `on_error` is the strictest its rules ask for (`fail` when any would
fail closed): the runner already decides each rule's errors by the rule's own
`on_error`, so the plugin's matters only for what escapes the runner: cpex's own
timeout, and a transform plugin's raise, its only way to stop a call (a rule that
failed, or plugins handed to a host that a reload left out of date), which cpex
swallows under `ignore`; so a transform plugin is always `fail`.

Hooks whose rules touch declared state get one more plugin, `FRONT`: the call's state
exchange, done once before any group runs (see `binding.StatePlugin`). The grouping
is cpex's concern alone, so it is derived here from a compiled version, on first use,
and cached on that version's identity: a policy that never meets cpex never builds
it, and a version builds each shape once however many plugins and managers serve it.
Imports nothing of cpex (tests read the groups without it).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ...runtime.engine import HookRunner
from ...runtime.modes import MODES, PHASE_ORDER, plugin_on_error
from ...runtime.program import RuleProgram
from ...runtime.state_plan import StatePlan, StateUse

if TYPE_CHECKING:
    from ...policy.loading import Compiled

# (mode, first priority, last priority, on_error): one cpex plugin each, at the first
GroupKey = tuple[str, int, int, str]
# not a group of rules: the plugin doing the state exchange of the hooks that need one;
# cpex runs it before every group (its real priority is below theirs: `front_priority`)
FRONT: GroupKey = ("sequential", -1, -1, "state")
# the other plugins of a manager, as (mode, priority, hooks); None: not known, so one
# plugin per (mode, priority)
Barriers = frozenset[tuple[str, int, frozenset[str]]] | None
Groups = Mapping[GroupKey, Mapping[str, HookRunner]]
_CACHE: weakref.WeakKeyDictionary[Compiled, dict[Barriers, Groups]] = weakref.WeakKeyDictionary()


def position(key: GroupKey) -> tuple[int, int, int, str]:
    """Where cpex runs the group's plugin in a hook call: phase, then priority (the
    state exchange before everything)."""
    if key == FRONT:
        return (-1, 0, 0, "")
    mode, first, last, on_error = key
    return (PHASE_ORDER[mode], first, last, on_error)


def front_priority(keys: Iterable[GroupKey]) -> int:
    """The state exchange's cpex priority: right below the lowest group's, so cpex
    runs it first of ours in its sequential phase (the first phase)."""
    return min((k[1] for k in keys if k != FRONT), default=0) - 1


def runner(
    compiled: Compiled, hook: str, programs: Iterable[RuleProgram], own_state: bool = False
) -> HookRunner:
    """A runner for some of `compiled`'s rules on `hook`, bounded as the version's own.

    Without `own_state` it has no state plan: it runs on the snapshot the call's
    exchange made, and without one its stateful rules fail closed. With it, it does
    its own exchange for exactly these rules' states (a YAML entry: `yaml_state`)."""
    own = compiled.runners.get(hook)
    budget = own.time_budget if own is not None else None
    programs = tuple(programs)
    plan = restrict(own.plan, programs) if own_state and own is not None else None
    store = own.store if plan is not None and own is not None else None
    breakers = own.breakers if own is not None else None  # one board for every path
    return HookRunner(
        hook, programs, compiled.shadowed, compiled.ruleset_hash, budget, plan, store, breakers
    )


def restrict(plan: StatePlan | None, programs: Iterable[RuleProgram]) -> StatePlan | None:
    """The part of a hook's state plan that `programs` need: the states they read
    and record, and only their recordings (None when they touch no state)."""
    programs = tuple(programs)
    if plan is None:
        return None
    recorded = {name for p in programs for name in p.records}
    read = {name for p in programs if not p.records for name in p.states}
    if not recorded and not read:
        return None
    ids = {p.id for p in programs}
    uses: list[StateUse] = [
        dataclasses.replace(use, read=use.spec.name in read)
        for use in plan.uses
        if use.spec.name in recorded | read
    ]
    return StatePlan(uses, [r for r in plan.recordings if r.rule_id in ids])


def segments(
    programs: Iterable[RuleProgram], barriers: Barriers
) -> Iterator[tuple[GroupKey, list[RuleProgram]]]:
    """The plugins `programs` (in cpex order) need, each with its rules in that order.

    A mode's consecutive priorities share a plugin unless `barriers` is None or holds
    a plugin of that mode, on one of their hooks, whose priority is in their span
    (ends included: at equal priorities cpex goes by registration order). Across
    phases cpex's order is fixed, so plugins of other modes never separate ours."""
    by_mode: dict[str, list[list[RuleProgram]]] = {}
    for prog in programs:
        runs = by_mode.setdefault(prog.mode, [])
        if runs and runs[-1][-1].priority == prog.priority:
            runs[-1].append(prog)
        else:
            runs.append([prog])
    for mode, runs in by_mode.items():
        members: list[RuleProgram] = []
        for run in runs:
            if members and (barriers is None or _crossed(mode, members + run, barriers)):
                yield _key(mode, members), members
                members = []
            members = members + run
        yield _key(mode, members), members


def _crossed(mode: str, members: list[RuleProgram], barriers: frozenset[Any]) -> bool:
    low, high = members[0].priority, members[-1].priority
    hooks = {hook for p in members for hook in p.hooks}
    return any(m == mode and low <= q <= high and not hooks.isdisjoint(h) for m, q, h in barriers)


def _key(mode: str, members: list[RuleProgram]) -> GroupKey:
    fails = MODES[mode].raises_to_block or any(
        plugin_on_error(p.mode, p.on_error) == "fail" for p in members
    )
    return (mode, members[0].priority, members[-1].priority, "fail" if fails else "ignore")


def groups(compiled: Compiled, barriers: Barriers = None) -> Groups:
    """group -> hook -> runner of that group's rules on that hook, in cpex order."""
    shapes = _CACHE.get(compiled)
    if shapes is None:
        shapes = _CACHE.setdefault(compiled, {})
    found = shapes.get(barriers)
    if found is None:
        ordered = sorted(compiled.programs, key=lambda p: p.sort_key)
        built: dict[GroupKey, dict[str, HookRunner]] = {}
        for key, members in segments(ordered, barriers):
            by_hook: dict[str, list[RuleProgram]] = {}
            for prog in members:
                for hook in prog.hooks:
                    by_hook.setdefault(hook, []).append(prog)
            built[key] = {hook: runner(compiled, hook, progs) for hook, progs in by_hook.items()}
        found = shapes.setdefault(barriers, built)  # a racing builder's copy is dropped
    return found


def shape(
    compiled: Compiled, catalog: Any, barriers: Barriers = None
) -> dict[GroupKey, frozenset[str]]:
    """The groups a version needs, each with the hooks a cpex manager can fire, and
    `FRONT` with the hooks that need a state exchange."""
    needed = {
        key: frozenset(filter(catalog.in_cpex, hooks))
        for key, hooks in groups(compiled, barriers).items()
    }
    needed[FRONT] = frozenset(
        hook for hook, r in compiled.runners.items() if r.stateful and catalog.in_cpex(hook)
    )
    return {key: hooks for key, hooks in needed.items() if hooks}
