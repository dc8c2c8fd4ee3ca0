"""Rules from a cpex YAML config: `kind: guardrails.cpex.RulesPlugin`.

    plugins:
      - name: guardrails-enforce
        kind: guardrails.cpex.RulesPlugin
        hooks: [tool_pre_invoke, generation_pre_call]
        mode: sequential
        priority: 10
        config:
          rules: rules/          # a file or directory, relative to the working directory
          shadow: false          # or true, or a list of rule ids / globs
          others: error          # rules in another mode: `error` (default) or `skip`
          records: decisions.jsonl  # optional: append decision records (JSON lines)
          watch: false           # true: reload when a rules file changes

How the entry and the rules relate: cpex runs the entry as one plugin at the entry's
mode and priority, so the entry runs the rules whose mode is the entry's mode, in
their own priority order, then file order. Rules in another mode are a
contradiction (they would silently never run) unless `others: skip` says another
entry runs them; so is a rule on a hook the entry does not list.

cpex skips a plugin that fails to load and lets calls through. This one never fails
to load: a missing rules file, rules with errors or a contradiction make it block
every call with code GUARDRAIL_CONFIG (a transform entry raises, an audit or
fire-and-forget entry records the problem), and log the reason.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from cpex.framework import Plugin, PluginContext, PluginResult, PluginViolation

from .adapters.cpex import METADATA_PREFIX, RuleFailure
from .adapters.cpex import RulesPlugin as _GroupPlugin
from .diagnostics import GuardrailsError, RulesError
from .loading import Compiled
from .policy import Policy, load
from .runtime.engine import HookRunner
from .runtime.records import JsonlSink

_log = logging.getLogger("guardrails.cpex")
_KEY = ("yaml", 0, "fail")
CONFIG_ERROR = "GUARDRAIL_CONFIG"


class RulesPlugin(_GroupPlugin):
    def __init__(self, config: Any) -> None:
        Plugin.__init__(self, config)
        mode = str(getattr(config.mode, "value", config.mode))
        self.group_mode = mode
        self.key = _KEY
        self.metadata_key = METADATA_PREFIX + config.name
        self._plans: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
        self.problem: str | None = None
        self._compiled: Compiled | None = None
        try:
            self.policy, self._compiled = self._load(config, mode)
            if (config.config or {}).get("watch"):
                self._watch(config, mode)
        except Exception as err:  # fail closed, loudly: see the module docstring
            self.problem = str(err) if isinstance(err, GuardrailsError) else repr(err)
            _log.error("guardrails plugin %s blocks every call: %s", config.name, self.problem)
        self.ruleset_hash = self._compiled.ruleset_hash if self._compiled else ""
        for hook in config.hooks:
            name = str(getattr(hook, "value", hook))
            setattr(self, name, self._handler(name))

    @staticmethod
    def _load(config: Any, mode: str) -> tuple[Policy, Compiled]:
        options = dict(config.config or {})
        if "rules" not in options:
            raise GuardrailsError("config.rules (a rules file or directory) is required")
        if options.get("others", "error") not in ("error", "skip"):
            raise GuardrailsError(
                f"config.others must be 'error' or 'skip', not {options['others']!r}"
            )
        try:
            sinks = [JsonlSink(options["records"])] if options.get("records") else []
            policy = load(options["rules"], shadow=options.get("shadow", False), sinks=sinks)
        except RulesError as err:
            raise GuardrailsError(f"rules at {options['rules']} have errors:\n{err}") from None
        return policy, _select(policy, policy.compiled, config, mode)

    def _watch(self, config: Any, mode: str) -> None:
        """Hot reload: a changed rules directory goes live for this entry if it still
        fits the entry; a broken or contradicting edit is logged and the last good
        rules stay in force (a reload never turns a working entry into an open one)."""

        def reloaded(compiled: Compiled) -> None:
            try:
                self._compiled = _select(self.policy, compiled, config, mode)
            except GuardrailsError as err:
                _log.error("guardrails plugin %s keeps its rules: %s", config.name, err)
                return
            self.ruleset_hash = compiled.ruleset_hash
            _log.info("guardrails plugin %s reloaded %s", config.name, compiled.ruleset_hash[:8])

        def failed(err: Exception) -> None:
            _log.error("guardrails plugin %s keeps its rules: %s", config.name, err)

        self._watcher = self.policy.watch(on_reload=reloaded, on_error=failed)

    async def shutdown(self) -> None:
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.stop()
        await super().shutdown()

    def _version(self, gctx: Any, hook: str) -> tuple[Compiled | None, str | None, bool]:
        return self._compiled, None, False  # swapped whole by `watch`; no capture here

    def run(self, hook: str, payload: Any, context: PluginContext | None) -> PluginResult[Any]:
        if self.problem is None:
            return super().run(hook, payload, context)
        if self.group_mode == "transform":
            raise RuleFailure(self.problem)
        if self.group_mode in ("audit", "fire_and_forget"):
            return PluginResult(metadata={self.metadata_key: [{"error": self.problem}]})
        return PluginResult(
            continue_processing=False,
            violation=PluginViolation(
                reason="guardrails rules are not loaded",
                description=self.problem,
                code=CONFIG_ERROR,
                details={"plugin": self.name, "problem": self.problem},
            ),
        )


def _select(policy: Policy, compiled: Compiled, config: Any, mode: str) -> Compiled:
    """The entry's view of `compiled`: its mode's rules, checked against the entry."""
    options = dict(config.config or {})
    hooks = {str(getattr(h, "value", h)) for h in config.hooks}
    # rules only another host fires (Haystack hook points) are not this entry's
    in_cpex = policy.catalog.in_cpex
    programs = [p for p in compiled.programs if any(map(in_cpex, p.hooks))]
    other = [p.id for p in programs if p.mode != mode]
    if other and options.get("others", "error") == "error":
        raise GuardrailsError(
            f"rules not in this entry's mode ({mode}): {', '.join(other)}; add an entry "
            "for their mode and set `others: skip`, or change their mode"
        )
    mine = [p for p in programs if p.mode == mode]
    unlisted = sorted({h for p in mine for h in p.hooks if in_cpex(h)} - hooks)
    if unlisted:
        raise GuardrailsError(f"rules use hooks this entry does not list: {', '.join(unlisted)}")
    runners = {
        hook: HookRunner(
            hook,
            sorted((p for p in mine if hook in p.hooks), key=lambda p: (p.priority, p.index)),
            compiled.shadowed,
            compiled.ruleset_hash,
            policy.time_budget,
        )
        for hook in hooks
    }
    return dataclasses.replace(compiled, groups={_KEY: runners})
