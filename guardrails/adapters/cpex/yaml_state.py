"""Declared state in a cpex YAML config: where each entry keeps it, and which configs
would count wrong.

An entry of `kind: guardrails.cpex.RulesPlugin` runs the rules of its mode, so one
ruleset's rules are spread over entries cpex runs as separate plugins, each with its
own copy of the rules. Unlike the plugins a Policy hands out (`binding`), an entry
cannot hand another a snapshot, so each entry does its own state exchange for its
own rules: it records what its rules record and reads what they read. That equals
`Policy.evaluate` (one exchange per call, reads before the call's updates) exactly
when no other entry records, on the same hook, a state this entry reads there: the
reader would then see that call's own update, or miss it, depending on which entry
cpex runs first. `check-config` (and a manager's `initialize()`) refuse such a config,
and a config where two entries run one recording rule on a hook (it would count each
call twice), or keep one state in two stores (what one entry records the other never
reads).

Where: an entry's `state:` option (`memory`, the default, or a `redis://` URL, as
`load(state=...)` takes). The entries of one config share one store per setting: one
in-memory store per manager, so what an entry records on one hook is what another
reads on a later one.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...runtime.modes import MODES, PHASE_ORDER, Mode
from ...runtime.state import Store

if TYPE_CHECKING:
    from ...policy.policy import Policy
    from ...runtime.program import RuleProgram

DEFAULT = "memory"
_OFF = Mode("disabled", 9, False, False, False, False, False, False, False)
# manager -> state setting -> the store its entries share
_SHARED: weakref.WeakKeyDictionary[Any, dict[str, Store]] = weakref.WeakKeyDictionary()


def setting(options: dict[str, Any]) -> str:
    value = options.get("state")
    return DEFAULT if value is None else str(value)


def shared_store(manager: Any, value: str) -> Store | str:
    """What to give `load(state=...)` for an entry with `state: value` that `manager`
    is building: the store an earlier entry of that manager opened with the same
    setting, else the setting itself (`remember` the store the load opens)."""
    stores = _stores(manager)
    return stores.get(value, value) if stores is not None else value


def remember(manager: Any, value: str, store: Store) -> None:
    stores = _stores(manager)
    if stores is not None:
        stores.setdefault(value, store)


def _stores(manager: Any) -> dict[str, Store] | None:
    if manager is None:
        return None
    try:
        return _SHARED.setdefault(manager, {})
    except TypeError:  # a manager that cannot be weakly keyed keeps no shared stores
        return None


# ---- check-config ----

StateId = tuple[str, str]  # (name, digest of the declaration): what a store keys on
# one enabled entry with its rules: (index, entry, the rules it runs, their policy)
Served = tuple[int, Any, "list[RuleProgram]", "Policy"]


def _specs(policy: Policy) -> dict[str, StateId]:
    return {
        use.spec.name: (use.spec.name, use.spec.digest)
        for runner in policy.compiled.runners.values()
        if runner.plan is not None
        for use in runner.plan.uses
    }


def conflicts(served: Sequence[Served]) -> list[tuple[int, Any, str]]:
    """(index, entry, message) for each entry whose state use would count wrong."""
    recorders: dict[tuple[StateId, str], dict[str, tuple[int, Any]]] = {}
    readers: dict[tuple[StateId, str], dict[str, tuple[int, Any]]] = {}
    counted: dict[tuple[str, str], str] = {}  # (rule, hook) -> the first entry counting it
    stores: dict[StateId, dict[str, tuple[int, Any]]] = {}
    recorded: set[StateId] = set()
    found: list[tuple[int, Any, str]] = []
    for i, entry, mine, policy in served:
        specs = _specs(policy)
        where = setting(dict(entry.config or {}))
        for prog in mine:
            for name in prog.states:
                state = specs[name]
                stores.setdefault(state, {}).setdefault(where, (i, entry))
                for hook in sorted(_hooks(entry) & set(prog.hooks)):
                    if name not in prog.records:
                        readers.setdefault((state, hook), {}).setdefault(entry.name, (i, entry))
                        continue
                    recorded.add(state)
                    recorders.setdefault((state, hook), {}).setdefault(entry.name, (i, entry))
                    first = counted.setdefault((prog.id, hook), entry.name)
                    if first != entry.name:
                        found.append((i, entry,
                            f"rule {prog.id} records state {name!r} on {hook} here and in "
                            f"entry {first!r}: each entry counts the call, so it would count "
                            "twice; run the rule in one entry"))  # fmt: skip
    for (state, hook), recs in sorted(recorders.items()):
        for i, entry in recs.values():
            stopper = _stopped_before(served, i, entry, hook)
            if stopper is not None:
                found.append((i, entry,
                    f"rules record state {state[0]!r} on {hook} in an entry that runs after "
                    f"entry {stopper!r}, which can stop the call there: a call it stops "
                    "would not be counted; record it in an entry that runs first "
                    "(sequential, the lowest priority)"))  # fmt: skip
        for i, entry in readers.get((state, hook), {}).values():
            others = sorted(set(recs) - {entry.name})
            if others:
                name = state[0]
                found.append((i, entry,
                    f"rules read state {name!r} on {hook}, which entry {others[0]!r} "
                    "records there: each entry does its own state exchange, so these "
                    "reads would see that call's own update or miss it; give the rules "
                    f"that record and read {name!r} on {hook} one mode (one entry)"))  # fmt: skip
    for state, places in sorted(stores.items()):
        if len(places) > 1 and state in recorded:
            (_, (_, origin)), *rest = sorted(places.items(), key=lambda p: p[1][0])
            for value, (i, entry) in rest:
                found.append((i, entry,
                    f"state {state[0]!r} is kept in `state: {value}` here and in another "
                    f"store by entry {origin.name!r}: what one records the other never "
                    "reads; give the entries one `state:`"))  # fmt: skip
    return sorted(found, key=lambda f: f[0])


def _hooks(entry: Any) -> set[str]:
    return {str(getattr(h, "value", h)) for h in entry.hooks}


def _mode(entry: Any) -> str:
    return str(getattr(entry.mode, "value", entry.mode))


def _stopped_before(served: Sequence[Served], index: int, entry: Any, hook: str) -> str | None:
    """An entry on `hook` that can stop a call before `entry` has run (cpex runs the
    phases in order, each by priority; concurrent entries race, and a block cancels
    the others), or None."""
    mode = _mode(entry)
    order = (PHASE_ORDER.get(mode, 9), entry.priority, index)
    for i, other, _, _ in served:
        theirs = _mode(other)
        if i == index or hook not in _hooks(other) or not MODES.get(theirs, _OFF).enforced:
            continue
        racing = theirs == mode == "concurrent"
        if racing or (PHASE_ORDER[theirs], other.priority, i) < order:
            return str(other.name)
    return None
