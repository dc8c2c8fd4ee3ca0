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

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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

from ...diagnostics import GuardrailsError
from ...policy.loading import Compiled, GroupKey
from ...policy.policy import new_call_id
from ...records import CallRecord
from ...records.capture import mask_facts
from ...runtime import engine
from ...runtime.program import PHASE_ORDER, Assign, Redact
from ...runtime.verdict import ERROR_CODE, Verdict
from .payloads import extract_facts, write_back

if TYPE_CHECKING:
    from ...policy.policy import Policy

METADATA_PREFIX = "guardrails:"
STALE_CODE = "GUARDRAIL_STALE"
_NON_BLOCKING = frozenset({"audit", "fire_and_forget"})
_SWAP_TIMEOUT = 10.0
# the loop each managed manager's calls run on, for reloads from other threads
_LOOPS: weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop] = weakref.WeakKeyDictionary()


class RuleFailure(GuardrailsError):
    """Raised inside a transform plugin whose rule failed, so cpex aborts the call."""


def _group_name(ruleset_hash: str, key: GroupKey) -> str:
    mode, priority, on_error = key
    suffix = "!ignore" if on_error == "ignore" and mode not in _NON_BLOCKING else ""
    return f"guardrails[{ruleset_hash[:8]}]:{mode}@{priority}{suffix}"


@dataclass(frozen=True, slots=True)
class _Call:
    """What one hook call of one policy has done so far, in the call's
    `GlobalContext.state` (cpex merges it back into the caller's context).

    Hosts reuse one GlobalContext for many hook calls (a gateway keeps one per
    request), so what is there may be left over from an earlier call. It belongs to
    the current call only if it names the same hook and a group earlier in cpex's
    order than the one now running: every hook call runs our groups in that order,
    so a group that finds its own position or a later one there is in a new call.
    """

    hook: str
    ruleset: str
    position: tuple[int, int, str, str]
    call_id: str | None


class PluginSet:
    """The groups a set of following plugins can serve: (group, hooks) pairs.

    Plugins handed to a host (`policy.plugins()`) outlive reloads. They follow the
    newest version while its groups fit in the set; a version that needs a group or
    a hook the host never registered would leave those rules unenforced, so the
    plugins then block every call (GUARDRAIL_STALE) until the host takes new ones.
    """

    def __init__(self, shape: Mapping[GroupKey, frozenset[str]]) -> None:
        self.shape = dict(shape)
        self._fits: dict[str, bool] = {}

    def fits(self, compiled: Compiled, policy: Policy) -> bool:
        known = self._fits.get(compiled.ruleset_hash)
        if known is None:
            wanted = _shape(compiled, policy.catalog)
            known = all(hooks <= self.shape.get(key, frozenset()) for key, hooks in wanted.items())
            self._fits[compiled.ruleset_hash] = known
        return known


def _shape(compiled: Compiled, catalog: Any) -> dict[GroupKey, frozenset[str]]:
    groups = compiled.groups.items()
    shape = {key: frozenset(filter(catalog.in_cpex, hooks)) for key, hooks in groups}
    return {key: hooks for key, hooks in shape.items() if hooks}


def _position(key: GroupKey) -> tuple[int, int, str, str]:
    mode, priority, on_error = key
    return (PHASE_ORDER[mode], priority, mode, on_error)


class RulesPlugin(Plugin):
    """One (mode, priority) group of compiled rules, serving every hook they name.

    Rules that opt out of failing closed (`on_error ignore`) get a group of their own
    at the same mode and priority, so cpex's plugin-level `on_error` (which also
    decides what a cpex timeout does) matches what the rules say.

    A plugin registered by the policy into a manager is bound to one version: a
    reload swaps the manager's plugins in one step, and a call already under way
    keeps the plugins (so the version) it started with. A plugin handed to a host
    (`follow`) runs the newest version, pinned for the rest of the call by the first
    of the call's plugins, so a reload in the middle of a call cannot mix versions.
    """

    def __init__(
        self, policy: Policy, key: GroupKey, compiled: Compiled, follow: PluginSet | None = None
    ) -> None:
        mode, priority, on_error = key
        # a rules directory may also serve Haystack agents: cpex never fires those points
        hooks = sorted(follow.shape[key]) if follow else _shape(compiled, policy.catalog)[key]
        runners = compiled.groups[key]
        ids = sorted({p.id for h in hooks if h in runners for p in runners[h].programs})
        config = PluginConfig(
            name=_group_name(compiled.ruleset_hash, key),
            kind=f"{__name__}.RulesPlugin",
            description=f"{len(ids)} guardrails rule(s): " + ", ".join(ids),
            hooks=sorted(hooks),
            mode=mode,
            priority=priority,
            on_error="ignore" if mode in _NON_BLOCKING else on_error,
            tags=["guardrails"],
        )
        super().__init__(config)
        self.policy = policy
        self.key = key
        self.position = _position(key)
        self.compiled = compiled
        self.follow = follow
        self.ruleset_hash = compiled.ruleset_hash
        self.group_mode = mode
        self.metadata_key = METADATA_PREFIX + config.name
        self._call = f"guardrails.call:{id(policy)}"
        self._records: dict[tuple[str, str], _Call] = {}
        self._plans: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
        for hook in hooks:
            # cpex finds a hook's handler as the attribute named after the hook
            setattr(self, hook, self._handler(hook))

    def _handler(self, hook: str) -> Callable[[Any, PluginContext], Awaitable[PluginResult[Any]]]:
        async def handle(payload: Any, context: PluginContext) -> PluginResult[Any]:
            return self.run(hook, payload, context)

        handle.__name__ = hook
        return handle

    def _version(self, gctx: Any, hook: str) -> tuple[Compiled | None, str | None, bool]:
        """(version this call runs on, its call id, whether this is the call's first
        guardrails plugin); version None when following plugins no longer fit."""
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
        if same:
            call_id = call.call_id  # type: ignore[union-attr]
        else:
            call_id = new_call_id() if policy.options.capture is not None else None
        ruleset = compiled.ruleset_hash if compiled is not None else self.ruleset_hash
        if call_id is None:  # immutable, so one record per (hook, version) serves every call
            record = self._records.get((hook, ruleset))
            if record is None:
                record = self._records[(hook, ruleset)] = _Call(hook, ruleset, self.position, None)
        else:
            record = _Call(hook, ruleset, self.position, call_id)
        state[self._call] = record
        return compiled, call_id, not same

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
        compiled, call_id, first = self._version(gctx, hook)
        if compiled is None:
            return self._stale(hook)
        if first and call_id is not None:
            self._capture(compiled, hook, payload, gctx, call_id)
        runner = compiled.groups.get(self.key, {}).get(hook)
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

    def _stale(self, hook: str) -> PluginResult[Any]:
        problem = (
            f"the rules were reloaded into groups or hooks that the plugins handed to this "
            f"host do not cover; take new ones with policy.plugins() (hook {hook})"
        )
        if self.group_mode == "transform":
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

    def _metadata(self, verdict: Verdict) -> dict[str, Any]:
        if not verdict.records:
            return {}
        return {self.metadata_key: [r.to_dict() for r in verdict.records]}


# The HTTP status a gateway answers a client with for our violations. ContextForge
# sends `http_status_code` when set, else its own table of codes, else 200 with a
# JSON-RPC error: a block must not look like success to an HTTP client.
_HTTP_STATUS = {ERROR_CODE: 500, STALE_CODE: 503, "GUARDRAIL_UNAVAILABLE": 503,
                "GUARDRAIL_CONFIG": 503}  # fmt: skip
BLOCK_HTTP_STATUS = 403


def http_status(code: str) -> int:
    """The `http_status_code` of a violation with this code: 403 for a rule's block,
    500 for a rule that failed, 503 while the rules cannot be run."""
    return _HTTP_STATUS.get(code, BLOCK_HTTP_STATUS)


def _violation(verdict: Verdict, policy: Policy) -> PluginViolation:
    blocker = next(r for r in verdict.rules if r.rule_id == verdict.blocked_by)
    code = verdict.code or "GUARDRAIL_BLOCK"
    reason = verdict.reason or "blocked"
    # hosts such as the gateway pass description and details on to their clients: the
    # reason and the rule, but not where the rules live on the server (file name only)
    return PluginViolation(
        reason=reason,
        description=f"{reason} (rule {blocker.rule_id}, {verdict.hook})",
        code=code,
        http_status_code=http_status(code),
        details={
            "rule": blocker.rule_id,
            "location": _file_and_line(blocker.location),
            "hook": verdict.hook,
            "mode": blocker.mode,
            "priority": blocker.priority,
            "ruleset": policy.ruleset_hash,
            **({"error": blocker.error} if blocker.error else {}),
        },
    )


def _file_and_line(location: str) -> str:
    path, _, line = location.rpartition(":")
    return f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}" if path else location


def build_plugins(
    policy: Policy, compiled: Compiled | None = None, *, follow: bool = False
) -> list[RulesPlugin]:
    """Plugins for `compiled` (default: the current version), one per group with cpex
    hooks; `follow=True` for plugins handed to a host (see `PluginSet`)."""
    compiled = compiled or policy.compiled
    shape = _shape(compiled, policy.catalog)
    plugin_set = PluginSet(shape) if follow else None
    keys = sorted(shape, key=lambda k: (k[1], k[0], k[2]))
    return [RulesPlugin(policy, key, compiled, plugin_set) for key in keys]


def hook_policies(policy: Policy) -> dict[str, HookPayloadPolicy]:
    """A writable-field policy for every hook the rules use (isolates payloads, too)."""
    out: dict[str, HookPayloadPolicy] = {}
    for hook in filter(policy.catalog.in_cpex, policy.hooks):
        spec = policy.catalog.get(hook)
        writable = spec.writable_fields if spec else frozenset()
        out[hook] = HookPayloadPolicy(writable_fields=frozenset(writable))
    return out


# payload fields a rule's write to a fact may land in, by host
_WRITE_FIELDS = {
    "tool.args": frozenset({"args", "model_tool_call"}),
    "tool.name": frozenset({"name"}),
    "tool.output": frozenset({"result", "tool_output"}),
    "model_options": frozenset({"model_options", "parameters"}),
}


def _written(path: tuple[Any, ...]) -> str:
    """The fact a write lands in, as `_WRITE_FIELDS` names it."""
    root = str(path[0])
    return f"{root}.{path[1]}" if root == "tool" and len(path) > 1 else root


def dropped_writes(policy: Policy, manager: Any) -> list[str]:
    """Hooks where the manager's payload policy would drop what our rules write.

    cpex keeps a plugin's changes only to fields its `HookPayloadPolicy` for the hook
    lists (or all fields when there is none and the default is allow); a redaction
    it drops would reach the host unredacted while our records say `modify`."""
    executor = getattr(manager, "executor", None)
    policies = getattr(executor, "hook_policies", None) or {}
    default = getattr(executor, "default_hook_policy", "allow")
    deny = str(getattr(default, "value", default)) == "deny"
    problems: list[str] = []
    for hook in filter(policy.catalog.in_cpex, policy.hooks):
        roots = {
            _written(tuple(action.path))
            for prog in policy.programs(hook)
            if prog.mode in ("sequential", "transform")
            for action in prog.actions
            if isinstance(action, Assign | Redact)
        }
        if not roots:
            continue
        hook_policy = policies.get(hook)
        if hook_policy is None:
            if deny:
                problems.append(f"{hook} (no payload policy, and the default is deny)")
            continue
        allowed = frozenset(getattr(hook_policy, "writable_fields", ()) or ())
        blocked = sorted(
            {r.split(".")[0] for r in roots if not allowed & _WRITE_FIELDS.get(r, frozenset({r}))}
        )
        if blocked:
            problems.append(f"{hook} (its payload policy does not let {', '.join(blocked)} change)")
    return problems


def register_plugins(policy: Policy, manager: Any) -> list[RulesPlugin]:
    if not getattr(manager, "initialized", False):
        raise GuardrailsError(
            "register() needs an initialized cpex manager: `await manager.initialize()` "
            "first (initialize() clears anything registered before it)"
        )
    problems = dropped_writes(policy, manager)
    if problems:
        raise GuardrailsError(
            "this manager would drop what the rules' set/redact write, so a redaction "
            "would be reported but never reach the host: "
            + "; ".join(problems)
            + ". Give the manager a HookPayloadPolicy listing those fields "
            "(`hook_policies(policy)` builds them), or use `await policy.manager()`"
        )
    plugins = build_plugins(policy)
    for plugin in plugins:
        manager._registry.register(plugin)  # no public API for runtime registration in cpex 0.1.4
    with contextlib.suppress(RuntimeError):  # no loop running: reloads swap in place
        _LOOPS[manager] = asyncio.get_running_loop()
    return plugins


def resync(policy: Policy, manager: Any) -> None:
    """After a reload: swap the manager's plugins for the current version's, in one step.

    cpex takes a call's plugin list when the call starts, so a call sees either the
    old plugins or the new ones, never a mix, and each is bound to its version. The
    swap must not interleave with the loop that runs the calls: from another thread
    it is handed to that loop and waited for (and done here if that loop does not
    get to it in time: the swap always installs the version current when it runs,
    so a late one cannot undo a newer reload).
    """
    loop = _LOOPS.get(manager)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or loop is running or not loop.is_running():
        _swap(policy, manager)
        return

    async def swap() -> None:
        _swap(policy, manager)

    try:
        asyncio.run_coroutine_threadsafe(swap(), loop).result(timeout=_SWAP_TIMEOUT)
    except TimeoutError:
        _swap(policy, manager)


def _swap(policy: Policy, manager: Any) -> None:
    registry = manager._registry
    new = build_plugins(policy)
    old = [
        name
        for name, ref in list(registry._plugins.items())
        if isinstance(ref.plugin, RulesPlugin) and ref.plugin.policy is policy
    ]
    # no await and no callback in here: the event loop sees the registry before or after
    for name in old:
        registry.unregister(name)
    for plugin in new:
        registry.register(plugin)


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
