"""cpex's shape of a ruleset: rules grouped by (mode, priority), one plugin per group.

cpex costs ~25-40 µs per plugin per call, so the binding fuses every rule with the
same mode and priority into one plugin. The grouping is cpex's concern alone, so it is
derived here from a compiled version, on first use, and cached on that version's
identity: a policy that never meets cpex never builds it, and a version builds it once
however many plugins and managers serve it. Imports nothing of cpex (tests read the
groups without it).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ...runtime.engine import HookRunner
from ...runtime.modes import PHASE_ORDER, plugin_on_error
from ...runtime.program import RuleProgram

if TYPE_CHECKING:
    from ...policy.loading import Compiled

GroupKey = tuple[str, int, str]  # (mode, priority, on_error): one cpex plugin each
Groups = Mapping[GroupKey, Mapping[str, HookRunner]]
_CACHE: weakref.WeakKeyDictionary[Compiled, Groups] = weakref.WeakKeyDictionary()


def group_key(prog: RuleProgram) -> GroupKey:
    return (prog.mode, prog.priority, plugin_on_error(prog.mode, prog.on_error))


def position(key: GroupKey) -> tuple[int, int, str, str]:
    """Where cpex runs the group's plugin in a hook call: phase, then priority."""
    mode, priority, on_error = key
    return (PHASE_ORDER[mode], priority, mode, on_error)


def runner(compiled: Compiled, hook: str, programs: Iterable[RuleProgram]) -> HookRunner:
    """A runner for some of `compiled`'s rules on `hook`, bounded as the version's own."""
    own = compiled.runners.get(hook)
    budget = own.time_budget if own is not None else None
    return HookRunner(hook, tuple(programs), compiled.shadowed, compiled.ruleset_hash, budget)


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
    """The groups a version needs, each with the hooks a cpex manager can fire."""
    needed = {
        key: frozenset(filter(catalog.in_cpex, hooks)) for key, hooks in groups(compiled).items()
    }
    return {key: hooks for key, hooks in needed.items() if hooks}
