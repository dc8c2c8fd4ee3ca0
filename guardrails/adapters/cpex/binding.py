"""The cpex binding: a Policy as cpex Plugins, one per group of rules (see `groups`).

A group is the rules of one mode and one priority, or, in a manager where no other
plugin sits between them, of several consecutive priorities; it runs them in cpex's
order (priority, then load order) for all the hooks they name. The plugin's
`PluginConfig` carries the mode and the (first) priority, so ordering against anyone
else's plugins is exactly cpex's.

Fail closed: a group with a rule that fails closed is registered with `on_error=fail`
(a rule error blocks, see `plugin`). Audit and fire-and-forget groups use
`on_error=ignore`: they never stop a call. Registering into a manager, choosing which
groups fuse there, and following reloads, is `manager`'s.

Declared state is exchanged once per hook call, before any group runs (docs/state.md:
a call counts once whatever the modes of the rules that count it). The groups of a
hook hold parts of its rules and no state plan, so `StatePlugin` does the whole
hook's exchange: a sequential plugin below every group's priority on each hook whose
rules touch state. It leaves the snapshot in the call's record, where every group of
the call finds it (cpex merges a sequential plugin's `GlobalContext.state` back, and
hands later plugins, audit and fire-and-forget ones too, a copy). A group that finds
no snapshot for its call gives its stateful rules `error` verdicts; it never does an
exchange of its own, which would count the call twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpex.framework import PluginConfig, PluginResult, PluginViolation

from ...records.calls import new_call_id
from ...runtime.engine import HookRunner
from ...runtime.hostfn import Scope
from ...runtime.hostrun import inside
from ...runtime.modes import MODES, plugin_on_error
from ...runtime.quoting import summary
from ...runtime.state import StateError
from ...runtime.state_plan import Snapshot
from .groups import FRONT, Barriers, GroupKey, front_priority, groups, position, shape
from .payloads import extract_facts
from .plugin import (
    METADATA_PREFIX,
    STALE_CODE,
    HookPlugin,
    Resolved,
    RuleFailure,
    decisions,
    global_context,
    http_status,
)
from .writes import hook_policies

if TYPE_CHECKING:
    from ...policy.loading import Compiled
    from ...policy.policy import Policy

# where hosts and the docs have always found them
__all__ = [
    "METADATA_PREFIX",
    "STALE_CODE",
    "PluginSet",
    "RuleFailure",
    "RulesPlugin",
    "StatePlugin",
    "build_plugins",
    "decisions",
    "global_context",
    "hook_policies",
    "http_status",
]


def _group_name(ruleset_hash: str, key: GroupKey) -> str:
    if key == FRONT:
        return f"guardrails[{ruleset_hash[:8]}]:state"
    mode, first, last, on_error = key
    span = str(first) if first == last else f"{first}..{last}"
    suffix = "!ignore" if on_error == "ignore" and MODES[mode].enforced else ""
    return f"guardrails[{ruleset_hash[:8]}]:{mode}@{span}{suffix}"


@dataclass(frozen=True, slots=True)
class _Call:
    """What one hook call of one policy has done so far, in the call's
    `GlobalContext.state` (cpex merges it back into the caller's context).

    Hosts reuse one GlobalContext for many hook calls (a gateway keeps one per
    request), so what is there may be left over from an earlier call. It belongs to
    the current call only if it names the same hook and a group earlier in cpex's
    order than the one now running: every hook call runs our groups in that order,
    so a group that finds its own position or a later one there is in a new call.
    `state` is the call's state snapshot, which every group passes on, and `host` the
    results of its host function calls, so a judge asked by two groups is asked once.
    """

    hook: str
    ruleset: str
    position: tuple[int, int, int, str]
    call_id: str | None
    state: Snapshot | None = None
    host: Scope | None = None  # the call's host function results, shared by its groups


class PluginSet:
    """The groups a set of following plugins can serve: (group, hooks) pairs, and
    (`FRONT`, the hooks its state plugin does the exchange on).

    Plugins handed to a host (`policy.plugins()`) outlive reloads. They follow the
    newest version while its groups fit in the set; a version that needs a group, a
    hook or a state exchange the host never registered would leave rules unenforced
    (or fail them closed on every call), so the
    plugins then block every call (GUARDRAIL_STALE) until the host takes new ones.
    """

    def __init__(self, wanted: Mapping[GroupKey, frozenset[str]], barriers: Barriers) -> None:
        self.shape = dict(wanted)
        self.barriers = barriers
        self._fits: dict[str, bool] = {}

    def fits(self, compiled: Compiled, policy: Policy) -> bool:
        known = self._fits.get(compiled.ruleset_hash)
        if known is None:
            wanted = shape(compiled, policy.catalog, self.barriers)
            known = all(hooks <= self.shape.get(key, frozenset()) for key, hooks in wanted.items())
            self._fits[compiled.ruleset_hash] = known
        return known


class RulesPlugin(HookPlugin):
    """One group of compiled rules (one mode, one or more priorities), serving every
    hook they name.

    Each rule's errors are decided by the rule's own `on_error` (the runner's); the
    plugin's cpex `on_error` is `fail` when any rule of the group fails closed, so a
    transform rule's raise and cpex's timeout stop the call (`ignore` when none does).

    A plugin registered by the policy into a manager is bound to one version: a
    reload swaps the manager's plugins in one step, and a call already under way
    keeps the plugins (so the version) it started with. A plugin handed to a host
    (`follow`) runs the newest version, pinned for the rest of the call by the first
    of the call's plugins, so a reload in the middle of a call cannot mix versions.
    """

    def __init__(
        self,
        policy: Policy,
        key: GroupKey,
        compiled: Compiled,
        follow: PluginSet | None = None,
        barriers: Barriers = None,
    ) -> None:
        # a rules directory may also serve Haystack agents: cpex never fires those points
        barriers = follow.barriers if follow else barriers
        wanted = follow.shape if follow else shape(compiled, policy.catalog, barriers)
        runners = self._runners(compiled, key, barriers)
        super().__init__(self._config(key, compiled, sorted(wanted[key]), runners, wanted), policy)
        self.policy: Policy = policy
        self.key = key
        self.barriers = barriers
        self.position = position(key)
        self.compiled = compiled
        self.follow = follow
        self.ruleset_hash = compiled.ruleset_hash
        self._call = f"guardrails.call:{id(policy)}"
        self._records: dict[tuple[str, str], _Call] = {}
        # the version last served and its group's runners, swapped as one tuple
        self._served: tuple[Compiled, Mapping[str, HookRunner]] = (compiled, runners)

    @staticmethod
    def _runners(compiled: Compiled, key: GroupKey, barriers: Barriers) -> Mapping[str, HookRunner]:
        return groups(compiled, barriers).get(key, {})

    @staticmethod
    def _config(
        key: GroupKey,
        compiled: Compiled,
        hooks: list[str],
        runners: Mapping[str, HookRunner],
        wanted: Mapping[GroupKey, frozenset[str]],
    ) -> PluginConfig:
        mode, priority, _, on_error = key
        ids = sorted({p.id for h in hooks if h in runners for p in runners[h].programs})
        return PluginConfig(
            name=_group_name(compiled.ruleset_hash, key),
            kind=f"{__name__}.RulesPlugin",
            description=f"{len(ids)} guardrails rule(s): " + ", ".join(ids),
            hooks=hooks,
            mode=mode,
            priority=priority,
            on_error=plugin_on_error(mode, on_error),
            tags=["guardrails"],
        )

    def resolve(self, gctx: Any, hook: str) -> Resolved | None:
        """The version this call runs on (None when following plugins no longer fit),
        with this group's runners in it, the call's id, and whether this is the call's
        first guardrails plugin."""
        policy = self.policy
        state = getattr(gctx, "state", None)
        if not isinstance(state, dict):
            state = {}
        call = state.get(self._call)
        same = type(call) is _Call and call.hook == hook and call.position < self.position
        compiled: Compiled | None = self.compiled
        if self.follow is not None:
            pinned = policy.version(call.ruleset) if same else None  # type: ignore[union-attr]
            compiled = pinned or policy.compiled
            if not self.follow.fits(compiled, policy):
                compiled = None
        snapshot: Snapshot | None = None
        host: Scope | None = None
        if same:
            call_id = call.call_id  # type: ignore[union-attr]
            snapshot = call.state  # type: ignore[union-attr]
            host = call.host  # type: ignore[union-attr]
        else:
            call_id = new_call_id() if policy.options.capture is not None else None
        whole = compiled.runners.get(hook) if compiled is not None else None
        if host is None and whole is not None and whole.hosted:
            host = Scope()
        ruleset = compiled.ruleset_hash if compiled is not None else self.ruleset_hash
        if call_id is None and snapshot is None and host is None:
            # immutable, so one record per (hook, version) serves every such call
            record = self._records.get((hook, ruleset))
            if record is None:
                record = self._records[(hook, ruleset)] = _Call(hook, ruleset, self.position, None)
        else:
            record = _Call(hook, ruleset, self.position, call_id, snapshot, host)
        state[self._call] = record
        if compiled is None:
            return None
        served = self._served
        if served[0] is not compiled:
            served = self._served = (compiled, self._runners(compiled, self.key, self.barriers))
        return compiled, served[1], call_id, not same, snapshot

    def host_scope(self, gctx: Any) -> Scope | None:
        if self.group_mode == "concurrent":  # cpex runs these groups at once: no sharing
            return None
        state = getattr(gctx, "state", None)
        call = state.get(self._call) if isinstance(state, dict) else None
        return call.host if type(call) is _Call else None

    def unavailable(self, hook: str) -> PluginResult[Any]:
        problem = (
            f"the rules were reloaded into groups or hooks that the plugins handed to this "
            f"host do not cover; take new ones with policy.plugins() (hook {hook})"
        )
        if MODES[self.group_mode].raises_to_block:
            raise RuleFailure(f"{STALE_CODE}: {problem}")
        return PluginResult(
            continue_processing=False,
            violation=PluginViolation(
                reason="guardrails plugins are out of date",
                description=problem,
                code=STALE_CODE,
                http_status_code=http_status(STALE_CODE),
                details={"plugin": self.name, "hook": hook},
            ),
        )


class StatePlugin(RulesPlugin):
    """The state exchange of every hook call whose rules touch declared state (see the
    module docstring): it runs no rule, and never stops a call itself (a failed
    exchange is in the snapshot, and the rules that needed it fail closed)."""

    @staticmethod
    def _runners(compiled: Compiled, key: GroupKey, barriers: Barriers) -> Mapping[str, HookRunner]:
        return compiled.runners

    @staticmethod
    def _config(
        key: GroupKey,
        compiled: Compiled,
        hooks: list[str],
        runners: Mapping[str, HookRunner],
        wanted: Mapping[GroupKey, frozenset[str]],
    ) -> PluginConfig:
        return PluginConfig(
            name=_group_name(compiled.ruleset_hash, key),
            kind=f"{__name__}.StatePlugin",
            description=f"guardrails state exchange on {', '.join(hooks)}",
            hooks=hooks,
            mode="sequential",  # the only phase first and merged back
            priority=front_priority(wanted),
            on_error="fail",
            tags=["guardrails"],
        )

    def run(self, hook: str, payload: Any, context: Any) -> PluginResult[Any]:
        if inside(self.policy.options.functions):
            return PluginResult()  # the policy's own host function calling its model
        gctx = context.global_context if context is not None else None
        resolved = self.resolve(gctx, hook)
        if resolved is None:
            return self.unavailable(hook)
        compiled, runners, call_id, _, _ = resolved
        if call_id is not None:  # the first of every call that has state
            self._capture(compiled, hook, payload, gctx, call_id)
        runner = runners.get(hook)
        state = getattr(gctx, "state", None)
        if runner is None or not runner.stateful or not isinstance(state, dict):
            return PluginResult()
        reads, normalized = self._facts_plan(runner, stateful=True)
        try:
            facts = extract_facts(hook, payload, gctx, reads, normalized)
        except Exception as err:  # the stateful rules fail closed on this
            # its message may quote the payload, and the state's error is told to the log
            snapshot = Snapshot(error=StateError(f"the call's facts: {summary(err)}"))
        else:
            snapshot = runner.prepare_state(facts)
        state[self._call] = dataclasses.replace(state[self._call], state=snapshot)
        return PluginResult()


def build_plugins(
    policy: Policy,
    compiled: Compiled | None = None,
    *,
    follow: bool = False,
    barriers: Barriers = None,
) -> list[RulesPlugin]:
    """Plugins for `compiled` (default: the current version), one per group with cpex
    hooks and the state exchange where the rules need one; `follow=True` for plugins
    handed to a host (see `PluginSet`). `barriers` are the other plugins of the manager
    they go into, when all are known (`groups`): priorities fuse around them."""
    compiled = compiled or policy.compiled
    wanted = shape(compiled, policy.catalog, barriers)
    plugin_set = PluginSet(wanted, barriers) if follow else None
    keys = sorted(wanted, key=position)
    return [
        (StatePlugin if key == FRONT else RulesPlugin)(policy, key, compiled, plugin_set, barriers)
        for key in keys
    ]
