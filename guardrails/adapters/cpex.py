"""The cpex binding: a Policy as cpex Plugins, one per (mode, priority) group.

cpex costs ~25-40 µs per plugin per call, so rules are fused: every rule with the
same mode and priority runs inside one plugin, in load order, for all the hooks
they name. The plugin's `PluginConfig` carries that mode and priority, so ordering
against anyone else's plugins is exactly cpex's.

Fail closed: a blocking group is registered with `on_error=fail`; a rule error in a
sequential or concurrent group is a block with code GUARDRAIL_ERROR, and in a
transform group (which cpex does not let block) the handler raises, which cpex turns
into a `PluginError` for the caller. Audit and fire-and-forget groups use
`on_error=ignore`: they never stop a call.

Every decision goes to the policy's sinks and into `PluginResult.metadata` under
`"guardrails:<plugin name>"` (cpex merges metadata even for audit plugins, which is
how a caller sees would-blocks); `decisions(result)` collects them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cpex.framework import (
    GlobalContext,
    HookPayloadPolicy,
    Plugin,
    PluginConfig,
    PluginContext,
    PluginResult,
    PluginViolation,
    TenantPluginManager,
)
from cpex.framework.models import Config

from ..diagnostics import GuardrailsError
from ..loading import Compiled, GroupKey
from ..policy import new_call_id
from ..runtime import engine
from ..runtime.capture import mask_facts
from ..runtime.records import CallRecord
from ..runtime.verdict import Verdict
from .payloads import extract_facts, write_back

if TYPE_CHECKING:
    from ..policy import Policy

METADATA_PREFIX = "guardrails:"
_NON_BLOCKING = frozenset({"audit", "fire_and_forget"})


class RuleFailure(GuardrailsError):
    """Raised inside a transform plugin whose rule failed, so cpex aborts the call."""


def _group_name(ruleset_hash: str, key: GroupKey) -> str:
    mode, priority, on_error = key
    suffix = "!ignore" if on_error == "ignore" and mode not in _NON_BLOCKING else ""
    return f"guardrails[{ruleset_hash[:8]}]:{mode}@{priority}{suffix}"


class RulesPlugin(Plugin):
    """One (mode, priority) group of compiled rules, serving every hook they name.

    Rules that opt out of failing closed (`on_error ignore`) get a group of their own
    at the same mode and priority, so cpex's plugin-level `on_error` (which also
    decides what a cpex timeout does) matches what the rules say.

    The plugin reads its rules from the policy at call time, pinned per hook call: the
    first guardrails plugin of a call records the policy's current version in the
    call's `GlobalContext.state`, and the later ones use that version, so a reload in
    the middle of a call cannot mix two versions in one call.
    """

    def __init__(self, policy: Policy, key: GroupKey, compiled: Compiled) -> None:
        mode, priority, on_error = key
        # a rules directory may also serve Haystack agents: cpex never fires those points
        runners = {h: r for h, r in compiled.groups[key].items() if policy.catalog.in_cpex(h)}
        ids = sorted({p.id for r in runners.values() for p in r.programs})
        config = PluginConfig(
            name=_group_name(compiled.ruleset_hash, key),
            kind=f"{__name__}.RulesPlugin",
            description=f"{len(ids)} guardrails rule(s): " + ", ".join(ids),
            hooks=sorted(runners),
            mode=mode,
            priority=priority,
            on_error="ignore" if mode in _NON_BLOCKING else on_error,
            tags=["guardrails"],
        )
        super().__init__(config)
        self.policy = policy
        self.key = key
        self.ruleset_hash = compiled.ruleset_hash
        self.group_mode = mode
        self.metadata_key = METADATA_PREFIX + config.name
        self._pin = f"guardrails.version:{id(policy)}"
        self._done = f"guardrails.done:{id(policy)}"
        self._call = f"guardrails.call:{id(policy)}"
        self._plans: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
        for hook in runners:
            # cpex finds a hook's handler as the attribute named after the hook
            setattr(self, hook, self._handler(hook))

    def _handler(self, hook: str) -> Callable[[Any, PluginContext], Awaitable[PluginResult[Any]]]:
        async def handle(payload: Any, context: PluginContext) -> PluginResult[Any]:
            return self.run(hook, payload, context)

        handle.__name__ = hook
        return handle

    def _version(self, gctx: Any) -> tuple[Compiled | None, str | None, bool]:
        """(version this call runs on, its call id, whether this is the call's first
        guardrails plugin); version None if this group already ran in this call."""
        policy = self.policy
        state = getattr(gctx, "state", None)
        if not isinstance(state, dict):
            return policy.compiled, None, True
        pinned = state.get(self._pin)
        compiled = policy.version(pinned) if isinstance(pinned, str) else None
        first = compiled is None
        if compiled is None:
            compiled = policy.compiled
            state[self._pin] = compiled.ruleset_hash
            if policy.options.capture is not None:
                state[self._call] = new_call_id()
        done = state.get(self._done, ())
        mark = (compiled.ruleset_hash, self.key)
        if mark in done:  # during a reload both versions' plugins can be registered
            return None, None, False
        state[self._done] = (*done, mark)
        call_id = state.get(self._call)
        return compiled, call_id if isinstance(call_id, str) else None, first

    def _capture(
        self, compiled: Compiled, hook: str, payload: Any, gctx: Any, call_id: str
    ) -> None:
        """The call record of this hook call, with every fact the hook's rules read."""
        capture = self.policy.options.capture
        runner = compiled.runners.get(hook)
        if capture is None or runner is None or not self.policy.recorder:
            return
        reads, normalized = self._facts_plan(runner)
        try:
            facts = extract_facts(hook, payload, gctx, reads, normalized)
        except Exception:
            facts = {}
        record = CallRecord(
            hook=hook, ruleset=compiled.ruleset_hash, time=time.time(),
            request_id=getattr(gctx, "request_id", None) or None, call_id=call_id,
            outcome="", blocked_by=None, code=None, duration_ms=0.0,
            facts=mask_facts(facts, capture),
        )  # fmt: skip
        self.policy.recorder.emit([record])

    def _facts_plan(self, runner: engine.HookRunner) -> tuple[frozenset[str], frozenset[str]]:
        plan = self._plans.get(id(runner))
        if plan is None:
            reads = frozenset().union(*(p.reads for p in runner.programs))
            spec = self.policy.catalog.get(runner.hook)
            facts = spec.facts.items() if spec else ()
            normalized = frozenset(p.split(".")[0] for p, f in facts if f.kind == "normalized")
            plan = self._plans[id(runner)] = (reads, normalized)
        return plan

    def run(self, hook: str, payload: Any, context: PluginContext | None) -> PluginResult[Any]:
        gctx = context.global_context if context is not None else None
        compiled, call_id, first = self._version(gctx)
        if compiled is not None and first and call_id is not None:
            self._capture(compiled, hook, payload, gctx, call_id)
        runner = compiled.groups.get(self.key, {}).get(hook) if compiled is not None else None
        if runner is None:
            return PluginResult()
        reads, normalized = self._facts_plan(runner)
        request_id = getattr(gctx, "request_id", None)
        error: Exception | None = None
        facts: dict[str, Any] = {}
        try:
            facts = extract_facts(hook, payload, gctx, reads, normalized)
        except Exception as err:  # a payload we cannot read fails closed, per rule
            error = err
        verdict = runner.run(
            facts, detail=False, input_error=error, request_id=request_id, call_id=call_id
        )
        if not verdict.rules:  # the common case: nothing fired
            return PluginResult()
        recorder = self.policy.recorder
        if verdict.outcome == "modify":
            try:
                changes = [c for r in verdict.rules for c in r.changes]
                new_payload = write_back(payload, verdict.payload, changes)
            except Exception as err:
                verdict = runner.run(
                    facts, detail=False, input_error=err, request_id=request_id, call_id=call_id
                )
            else:
                if recorder:
                    recorder.emit(verdict.records)
                return PluginResult(modified_payload=new_payload, metadata=self._metadata(verdict))
        if recorder:  # records are built only for someone who keeps them
            recorder.emit(verdict.records)
        if verdict.outcome == "block":
            if self.group_mode == "transform":
                raise RuleFailure(verdict.reason or "guardrails rule failed")
            # the violation carries the blocking decision; metadata only what else fired
            return PluginResult(
                continue_processing=False,
                violation=_violation(verdict, self.policy),
                metadata=self._metadata(verdict) if len(verdict.rules) > 1 else {},
            )
        return PluginResult(metadata=self._metadata(verdict))

    def _metadata(self, verdict: Verdict) -> dict[str, Any]:
        if not verdict.records:
            return {}
        return {self.metadata_key: [r.to_dict() for r in verdict.records]}


def _violation(verdict: Verdict, policy: Policy) -> PluginViolation:
    blocker = next(r for r in verdict.rules if r.rule_id == verdict.blocked_by)
    return PluginViolation(
        reason=verdict.reason or "blocked",
        description=f"rule {blocker.rule_id} ({blocker.location}) blocked {verdict.hook}",
        code=verdict.code or "GUARDRAIL_BLOCK",
        details={
            "rule": blocker.rule_id,
            "location": blocker.location,
            "hook": verdict.hook,
            "mode": blocker.mode,
            "priority": blocker.priority,
            "ruleset": policy.ruleset_hash,
            **({"error": blocker.error} if blocker.error else {}),
        },
    )


def build_plugins(policy: Policy) -> list[RulesPlugin]:
    compiled = policy.compiled
    keys = sorted(compiled.groups, key=lambda k: (k[1], k[0], k[2]))
    return [
        RulesPlugin(policy, key, compiled)
        for key in keys
        if any(policy.catalog.in_cpex(h) for h in compiled.groups[key])
    ]


def hook_policies(policy: Policy) -> dict[str, HookPayloadPolicy]:
    """A writable-field policy for every hook the rules use (isolates payloads, too)."""
    out: dict[str, HookPayloadPolicy] = {}
    for hook in filter(policy.catalog.in_cpex, policy.hooks):
        spec = policy.catalog.get(hook)
        writable = spec.writable_fields if spec else frozenset()
        out[hook] = HookPayloadPolicy(writable_fields=frozenset(writable))
    return out


def register_plugins(policy: Policy, manager: Any) -> list[RulesPlugin]:
    if not getattr(manager, "initialized", False):
        raise GuardrailsError(
            "register() needs an initialized cpex manager: `await manager.initialize()` "
            "first (initialize() clears anything registered before it)"
        )
    plugins = build_plugins(policy)
    for plugin in plugins:
        manager._registry.register(plugin)  # no public API for runtime registration in cpex 0.1.4
    return plugins


def resync(policy: Policy, manager: Any) -> None:
    """After a reload: register the new version's plugins, then drop the old ones.

    In between, a call may see both; the per-call version pin and the "already ran"
    marks in `RulesPlugin._version` keep it on one version, each group run once.
    """
    registry = manager._registry
    old = [
        name
        for name, ref in list(registry._plugins.items())
        if isinstance(ref.plugin, RulesPlugin)
        and ref.plugin.policy is policy
        and ref.plugin.ruleset_hash != policy.ruleset_hash
    ]
    current = {p.name for p in build_plugins(policy)}
    for plugin in build_plugins(policy):
        if plugin.name not in registry._plugins:
            registry.register(plugin)
    for name in old:
        if name not in current:
            registry.unregister(name)


async def new_manager(policy: Policy, timeout: float = 30) -> TenantPluginManager:
    manager = TenantPluginManager(
        Config(plugins=[]),
        timeout=timeout,  # annotated int in cpex; a float works
        hook_policies=hook_policies(policy),
    )
    await manager.initialize()
    policy.register(manager)
    return manager


def decisions(result: PluginResult[Any]) -> list[dict[str, Any]]:
    """Every guardrails decision record in a cpex result's metadata, in plugin order."""
    found: list[dict[str, Any]] = []
    for key, value in (result.metadata or {}).items():
        if key.startswith(METADATA_PREFIX) and isinstance(value, list):
            found.extend(value)
    return found


def global_context(request_id: str = "", **fields: Any) -> GlobalContext:
    """A cpex GlobalContext (convenience for callers and tests)."""
    return GlobalContext(request_id=request_id, **fields)
