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
          state: memory          # where declared states live: memory or redis://...
          time_budget_ms: 250    # one hook call's rules (the default); null: no budget
          workers: 1             # processes serving this config (`guardrails serve
                                 # --workers`); more than 1 refuses state in memory

How the entry and the rules relate: cpex runs the entry as one plugin at the entry's
mode and priority, so the entry runs the rules whose mode is the entry's mode, in
their own priority order, then file order. Rules in another mode are a
contradiction (they would silently never run) unless `others: skip` says another
entry runs them; so is a rule on a hook the entry does not list.

A config in which cpex would let through calls the rules block is refused at load:
an entry that lists no hooks or not every hook its rules use (cpex never calls it for
those), two entries with one name (cpex drops the second), an entry whose mode
selects no rules, and a transform entry with `on_error: ignore` or `disable` (cpex
would swallow the error it raises to stop a call). The first of our entries cpex
builds checks the whole config its manager loaded (`cpex_config.check_entries`); the
entry raises `ConfigRefused`, which passes through cpex's "skip a plugin that fails to
load" handler, so the manager's `initialize()` raises whatever
PLUGINS_FAIL_ON_PLUGIN_ERROR says. `guardrails check-config` runs the same checks.

Other problems leave the entry loaded and failing closed on every call cpex routes
to it (its listed hooks): a missing rules file, rules with errors, or rules of
another mode without `others: skip` make it block with code GUARDRAIL_CONFIG (a
transform entry raises, an audit or fire-and-forget entry records the problem), and
log the reason.

Declared state: each entry does the state exchange for its own rules on each call
(the entries of one config share one store per `state:` setting); `yaml_state` says
why, and which configs are refused because they would count wrong.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import TYPE_CHECKING, Any

from cpex.framework import PluginManager, PluginResult, PluginViolation

from ... import load
from ...diagnostics import GuardrailsError, RulesError
from ...records import JsonlSink
from ...runtime.modes import MODES
from ...runtime.program import RuleProgram
from .config_check import (
    KIND,
    REFUSED,
    WARNING,
    Problem,
    check_entries,
    effect,
    fit,
    hooks_of,
    mode_of,
    no_rules,
    options_problem,
    refusal,
    static_problems,
)
from .groups import runner
from .plugin import HookPlugin, Resolved, RuleFailure, http_status
from .yaml_state import remember, setting, shared_store

if TYPE_CHECKING:
    from ...policy.loading import Compiled
    from ...policy.policy import Policy

_log = logging.getLogger("guardrails.cpex")
CONFIG_ERROR = "GUARDRAIL_CONFIG"


class ConfigRefused(BaseException):
    """A cpex config in which guardrails rules would silently not run.

    A BaseException, not an Exception, on purpose: cpex's loader catches Exception
    from a plugin's construction and, unless PLUGINS_FAIL_ON_PLUGIN_ERROR=true, logs
    it, skips the plugin and lets every call through. This one reaches the caller of
    the manager's `initialize()`."""


class RulesPlugin(HookPlugin):
    """One config entry: the rules of the entry's mode, on the hooks it lists.

    What serves a call is one (version, runners) pair, swapped whole when `watch`
    reloads the rules, so a call never mixes two versions; there is no call capture.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config, None)
        self.problem: str | None = None
        self._served: Resolved | None = None
        refused = static_problems(config)
        manager = _loading_manager()
        try:
            policy, compiled = self._load(config, manager)
            self.policy = policy
            mine, found = fit(policy, compiled, config)
            refused += [p for p in found if p.severity == REFUSED]
            remember(manager, setting(config.config or {}), policy.state)
            if not mine:
                refused.append(no_rules(policy, compiled, config))
            blocks = [p for p in found if p.severity != REFUSED]
            if blocks:
                raise GuardrailsError(blocks[0].message)
            self._served = _serve(compiled, mine, config)
        except Exception as err:  # fail closed, loudly: see the module docstring
            self.problem = str(err) if isinstance(err, GuardrailsError) else repr(err)
        try:
            _refuse(config, refused, manager)
        except ConfigRefused:
            if self.policy is not None:
                self.policy.close()  # a `records:` file it opened
            raise
        if self.problem is None and (config.config or {}).get("watch"):
            try:
                self._watch(config)
            except Exception as err:
                self.problem = repr(err)
        if self.problem is not None:
            does = effect(self.group_mode, ", ".join(hooks_of(config)))
            _log.error("guardrails plugin %s %s: %s", config.name, does, self.problem)
        self.ruleset_hash = self._served[0].ruleset_hash if self._served else ""

    @staticmethod
    def _load(config: Any, manager: Any) -> tuple[Policy, Compiled]:
        options = dict(config.config or {})
        problem = options_problem(options)
        if problem is not None:
            raise GuardrailsError(problem)
        try:
            sinks = [JsonlSink(options["records"])] if options.get("records") else []
            state = shared_store(manager, setting(options))
            budget = (
                {"time_budget_ms": options["time_budget_ms"]} if "time_budget_ms" in options else {}
            )
            policy = load(
                options["rules"], shadow=options.get("shadow", False), sinks=sinks, state=state,
                breaker=options.get("breaker"), **budget,
            )  # fmt: skip
        except RulesError as err:
            raise GuardrailsError(f"rules at {options['rules']} have errors:\n{err}") from None
        return policy, policy.compiled

    def _watch(self, config: Any) -> None:
        """Hot reload: a changed rules directory goes live for this entry if it still
        fits the entry; a broken or contradicting edit is logged and the last good
        rules stay in force (a reload never turns a working entry into an open one)."""
        policy: Any = self.policy

        def reloaded(compiled: Compiled) -> None:
            try:
                self._served = _select(policy, compiled, config)
            except GuardrailsError as err:
                _log.error("guardrails plugin %s keeps its rules: %s", config.name, err)
                return
            self.ruleset_hash = compiled.ruleset_hash
            _log.info("guardrails plugin %s reloaded %s", config.name, compiled.ruleset_hash[:8])

        def failed(err: Exception) -> None:
            _log.error("guardrails plugin %s keeps its rules: %s", config.name, err)

        self._watcher = policy.watch(on_reload=reloaded, on_error=failed)

    async def shutdown(self) -> None:
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.stop()
        await super().shutdown()

    def resolve(self, gctx: Any, hook: str) -> Resolved | None:
        return self._served if self.problem is None else None

    def unavailable(self, hook: str) -> PluginResult[Any]:
        problem = self.problem or "no rules loaded"
        mode = MODES.get(self.group_mode)  # None: a mode cpex has and rules do not (disabled)
        if mode is not None and mode.raises_to_block:
            raise RuleFailure(problem)
        if mode is not None and not mode.enforced:
            return PluginResult(metadata={self.metadata_key: [{"error": problem}]})
        return PluginResult(
            continue_processing=False,
            violation=PluginViolation(
                reason="guardrails rules are not loaded",
                description=problem,
                code=CONFIG_ERROR,
                details={"plugin": self.name, "problem": problem},
                http_status_code=http_status(CONFIG_ERROR),
            ),
        )


def _select(policy: Policy, compiled: Compiled, config: Any) -> Resolved:
    """The entry's view of a reloaded `compiled`; raises if it contradicts the entry
    (a reload that leaves the entry no rules is taken: they were deleted on purpose)."""
    mine, found = fit(policy, compiled, config)
    if found:
        raise GuardrailsError(found[0].message)
    return _serve(compiled, mine, config)


def _serve(compiled: Compiled, mine: list[RuleProgram], config: Any) -> Resolved:
    """The entry's rules on each hook it lists, by priority, then file order."""
    runners = {
        hook: runner(
            compiled,
            hook,
            sorted((p for p in mine if hook in p.hooks), key=lambda p: (p.priority, p.index)),
            own_state=True,
        )
        for hook in hooks_of(config)
    }
    return compiled, runners, None, False, None


def _refuse(config: Any, own: list[Problem], manager: Any) -> None:
    """Raise `ConfigRefused` when the config cpex is loading (or, when no cpex manager
    is loading this entry, the entry itself) lets calls through that rules block."""
    loaded = manager.config if manager is not None else None
    entries = list(loaded.plugins or []) if loaded is not None else []
    ours = [e.name for e in entries if e.kind == KIND and mode_of(e) != "disabled"]
    problems = own
    if ours and ours[0] == config.name:  # the first of ours checks the whole config
        try:
            problems = check_entries(entries)
        except Exception as err:  # cpex would skip this entry: refuse instead
            problems = [Problem(REFUSED, "config", f"the config could not be checked: {err!r}")]
        for p in problems:
            if p.severity == WARNING:
                _log.warning("guardrails: cpex config entry %s: %s", p.entry, p.message)
    elif config.name in ours:  # a later entry: the first checked it with the config
        problems = []
    refused = [p if p.entry else dataclasses.replace(p, entry=config.name)
               for p in problems if p.severity == REFUSED]  # fmt: skip
    if refused:
        source = getattr(manager, "_config_path", None) if manager is not None else None
        message = refusal(refused, source)
        _log.error("%s", message)
        raise ConfigRefused(message)


def _loading_manager() -> Any | None:
    """The cpex manager whose `initialize()` is building this plugin: cpex hands a
    plugin only its own entry, and a duplicate name or an entry no hook reaches is a
    property of the whole config. None when built some other way."""
    frame = sys._getframe(1)
    for _ in range(16):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        if isinstance(owner, PluginManager):
            return owner
    return None
