"""cpex's shape of a ruleset: rules grouped by (mode, priority), one plugin per group.

cpex costs ~25-40 µs per plugin per call, so the binding fuses every rule with the
same mode and priority into one plugin. Hooks whose rules touch declared state get one
more plugin, `FRONT`: the call's state exchange, done once before any group runs
(see `binding.StatePlugin`). The grouping is cpex's concern alone, so it is
derived here from a compiled version, on first use, and cached on that version's
identity: a policy that never meets cpex never builds it, and a version builds it once
however many plugins and managers serve it. Imports nothing of cpex (tests read the
groups without it).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ...runtime.engine import HookRunner
from ...runtime.modes import PHASE_ORDER, plugin_on_error
from ...runtime.program import RuleProgram
from ...runtime.state_plan import StatePlan, StateUse

if TYPE_CHECKING:
    from ...policy.loading import Compiled

GroupKey = tuple[str, int, str]  # (mode, priority, on_error): one cpex plugin each
# not a group of rules: the plugin doing the state exchange of the hooks that need one;
# cpex runs it before every group (its real priority is below theirs: `front_priority`)
FRONT: GroupKey = ("sequential", -1, "state")
Groups = Mapping[GroupKey, Mapping[str, HookRunner]]
_CACHE: weakref.WeakKeyDictionary[Compiled, Groups] = weakref.WeakKeyDictionary()


def group_key(prog: RuleProgram) -> GroupKey:
    return (prog.mode, prog.priority, plugin_on_error(prog.mode, prog.on_error))


def position(key: GroupKey) -> tuple[int, int, str, str]:
    """Where cpex runs the group's plugin in a hook call: phase, then priority (the
    state exchange before everything)."""
    if key == FRONT:
        return (-1, 0, "", "")
    mode, priority, on_error = key
    return (PHASE_ORDER[mode], priority, mode, on_error)


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


def groups(compiled: Compiled) -> Groups:
    """group -> hook -> runner of that group's rules on that hook, in load order."""
    found = _CACHE.get(compiled)
    if found is None:
        grouped: dict[GroupKey, dict[str, list[RuleProgram]]] = {}
        for prog in sorted(compiled.programs, key=lambda p: p.index):
            for hook in prog.hooks:
                grouped.setdefault(group_key(prog), {}).setdefault(hook, []).append(prog)
        built = {
            key: {hook: runner(compiled, hook, progs) for hook, progs in hooks.items()}
            for key, hooks in grouped.items()
        }
        found = _CACHE.setdefault(compiled, built)  # a racing builder's copy is dropped
    return found


def shape(compiled: Compiled, catalog: Any) -> dict[GroupKey, frozenset[str]]:
    """The groups a version needs, each with the hooks a cpex manager can fire, and
    `FRONT` with the hooks that need a state exchange."""
    needed = {
        key: frozenset(filter(catalog.in_cpex, hooks)) for key, hooks in groups(compiled).items()
    }
    needed[FRONT] = frozenset(
        hook for hook, r in compiled.runners.items() if r.stateful and catalog.in_cpex(hook)
    )
    return {key: hooks for key, hooks in needed.items() if hooks}
