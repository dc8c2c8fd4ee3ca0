"""What every guardrails cpex plugin does on a hook call, whatever rules it runs.

Two kinds of plugin run compiled rules in a cpex manager: the groups a Policy hands
out (`binding.RulesPlugin`) and an entry of a cpex YAML config
(`yaml_plugin.RulesPlugin`). They differ only in which rules serve a call; `HookPlugin`
is the rest (reading facts from the payload, running the rules, writing changes back,
the violation, records and metadata), and a subclass says which rules by `resolve()`.

Fail closed: a rule error in a sequential or concurrent plugin is a block with code
GUARDRAIL_ERROR, and in a transform plugin (which cpex does not let block) the handler
raises, which cpex turns into a `PluginError` for the caller.

Every decision goes to the policy's sinks and into `PluginResult.metadata` under
`"guardrails:<plugin name>"` (cpex merges metadata even for audit plugins, which is
how a caller sees would-blocks); `decisions(result)` collects them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from cpex.framework import (
    GlobalContext,
    Plugin,
    PluginConfig,
    PluginContext,
    PluginResult,
    PluginViolation,
)

from ...diagnostics import GuardrailsError
from ...records import CallRecord
from ...records.capture import derive_facts, mask_facts
from ...runtime.engine import HookRunner
from ...runtime.hostfn import Scope
from ...runtime.hostrun import inside, offload
from ...runtime.modes import MODES
from ...runtime.state_plan import Snapshot
from ...runtime.verdict import ERROR_CODE, Verdict
from .payloads import extract_facts, write_back

if TYPE_CHECKING:
    from ...policy.loading import Compiled
    from ...policy.policy import Policy

METADATA_PREFIX = "guardrails:"
STALE_CODE = "GUARDRAIL_STALE"
# what serves one hook call: (version, its runners by hook, call id, first of the call,
# the call's state snapshot when the exchange was done before this plugin)
Resolved = tuple["Compiled", Mapping[str, HookRunner], str | None, bool, Snapshot | None]


class RuleFailure(GuardrailsError):
    """Raised inside a transform plugin whose rule failed, so cpex aborts the call."""


def _trace(verdict: Verdict, runner: HookRunner) -> None:
    """The decisions as events on the host's current span, when the host traces
    (adapters/otel.py; nothing is imported otherwise)."""
    if "opentelemetry.trace" in sys.modules:
        from ..otel import trace_verdict

        trace_verdict(verdict, runner)


def _value(item: Any) -> str:
    return str(getattr(item, "value", item))


class HookPlugin(Plugin):  # type: ignore[misc]  # cpex ships no types
    """Compiled rules as one cpex plugin on the hooks its config lists.

    cpex finds a hook's handler as the attribute named after the hook, so one is set
    per listed hook. `policy` gives the sinks, the catalog and the capture setting;
    it may be None until a subclass has loaded one.
    """

    def __init__(self, config: PluginConfig, policy: Policy | None) -> None:
        super().__init__(config)
        self.policy = policy
        self.group_mode = _value(config.mode)
        self.metadata_key = METADATA_PREFIX + config.name
        self._plans: dict[tuple[int, bool], tuple[frozenset[str], frozenset[str]]] = {}
        for hook in config.hooks:
            setattr(self, _value(hook), self._handler(_value(hook)))

    # ---- what a subclass decides ----

    def resolve(self, gctx: Any, hook: str) -> Resolved | None:
        """The rules serving this call, or None when they cannot be run (`unavailable`)."""
        raise NotImplementedError

    def unavailable(self, hook: str) -> PluginResult[Any]:
        """The answer while `resolve` finds no rules to run: never a silent allow."""
        raise NotImplementedError

    def host_scope(self, gctx: Any) -> Scope | None:
        """The host function results this hook call's other plugins got, to share
        (None: this plugin's rules call for themselves)."""
        return None

    # ---- the call ----

    def _handler(self, hook: str) -> Callable[[Any, PluginContext], Awaitable[PluginResult[Any]]]:
        async def handle(payload: Any, context: PluginContext) -> PluginResult[Any]:
            if self._hosted(hook):  # host functions may wait: never on the host's loop
                return await offload(self.run, hook, payload, context)
            return self.run(hook, payload, context)

        handle.__name__ = hook
        return handle

    def _hosted(self, hook: str) -> bool:
        policy: Any = self.policy
        runner = policy.compiled.runners.get(hook) if policy is not None else None
        return runner is not None and runner.hosted

    def run(self, hook: str, payload: Any, context: PluginContext | None) -> PluginResult[Any]:
        policy: Any = self.policy
        if policy is not None and inside(policy.options.functions):
            return PluginResult()  # the policy's own host function calling its model
        gctx = context.global_context if context is not None else None
        resolved = self.resolve(gctx, hook)
        if resolved is None:
            return self.unavailable(hook)
        compiled, runners, call_id, first, snapshot = resolved
        if first and call_id is not None:
            self._capture(compiled, hook, payload, gctx, call_id)
        runner = runners.get(hook)
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
            facts, detail=False, input_error=error, request_id=request_id, call_id=call_id,
            state=snapshot, host=self.host_scope(gctx) if runner.hosted else None,
        )  # fmt: skip
        if not verdict.rules:  # the common case: nothing fired
            return PluginResult()
        recorder = policy.recorder
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
                _trace(verdict, runner)
                return PluginResult(modified_payload=new_payload, metadata=self._metadata(verdict))
        if recorder:  # records are built only for someone who keeps them
            recorder.emit(verdict.records)
        _trace(verdict, runner)
        if verdict.outcome == "block":
            if MODES[self.group_mode].raises_to_block:
                raise RuleFailure(verdict.reason or "guardrails rule failed")
            # the violation carries the blocking decision; metadata only what else fired
            return PluginResult(
                continue_processing=False,
                violation=_violation(verdict, policy),
                metadata=self._metadata(verdict) if len(verdict.rules) > 1 else {},
            )
        return PluginResult(metadata=self._metadata(verdict))

    def _capture(
        self, compiled: Compiled, hook: str, payload: Any, gctx: Any, call_id: str
    ) -> None:
        """The call record of this hook call, with every fact the hook's rules read."""
        policy: Any = self.policy
        capture = policy.options.capture
        runner = compiled.runners.get(hook)
        if capture is None or runner is None or not policy.recorder:
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
            derived=derive_facts(facts, reads, policy.options.tokenizer) if capture.facts else None,
        )  # fmt: skip
        policy.recorder.emit([record])

    def _facts_plan(
        self, runner: HookRunner, stateful: bool = False
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(the facts `runner`'s rules read, the hook's normalized fact roots); with
        `stateful`, only the facts its state exchange needs."""
        plan = self._plans.get((id(runner), stateful))
        if plan is None:
            programs = [p for p in runner.programs if p.states or not stateful]
            reads = frozenset().union(*(p.reads for p in programs))
            policy: Any = self.policy
            spec = policy.catalog.get(runner.hook)
            facts = spec.facts.items() if spec else ()
            normalized = frozenset(p.split(".")[0] for p, f in facts if f.kind == "normalized")
            plan = self._plans[(id(runner), stateful)] = (reads, normalized)
        return plan

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


def _violation(verdict: Verdict, policy: Any) -> PluginViolation:
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
