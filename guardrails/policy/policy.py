"""The facade: `load()` runs parse -> check -> compile and returns a Policy.

A Policy holds one compiled version of its rules at a time. `reload()` compiles the
new version completely before swapping it in with one assignment, so every hook call
sees exactly one version; a broken edit raises `RulesError` and leaves the last good
version running. `check()` never raises on bad rules (for the CLI and editors).
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..check import ir
from ..check.catalog import DEFAULT_CATALOG, Catalog
from ..diagnostics import Diagnostic, GuardrailsError
from ..records import CallRecord, Sink
from ..records.capture import Capture
from ..records.recorder import Recorder
from ..runtime import engine
from ..runtime.facts import Tokenizer
from ..runtime.ops import DEFAULT_MAX_MATCH_CHARS
from ..runtime.program import RuleProgram
from ..runtime.verdict import Verdict
from ..source import SourceFile
from .loading import (
    DEFAULT_TIME_BUDGET_MS,
    Compiled,
    Options,
    Paths,
    _sources,
    check,
    compile_sources,
)

__all__ = ["Policy", "RuleInfo", "check", "load", "loads"]
_KEPT_VERSIONS = 4  # in-flight cpex calls pinned to an older version still find it


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a loaded rule is, without its code."""

    id: str
    description: str | None
    hooks: tuple[str, ...]
    mode: str
    on_error: str
    priority: int
    file: str
    line: int
    column: int

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


def load(
    paths: Paths,
    *,
    shadow: bool | Iterable[str] = False,
    catalog: Catalog | None = None,
    tokenizer: Tokenizer | None = None,
    sinks: Sequence[Sink] = (),
    max_match_chars: int = DEFAULT_MAX_MATCH_CHARS,
    time_budget_ms: float | None = DEFAULT_TIME_BUDGET_MS,
    capture: Capture | bool | None = None,
) -> Policy:
    """Load a rules file or directory (every `*.rules` under it, in sorted path order).

    `shadow=True` turns every block into a would-block; a list of rule ids or globs
    does so for the matching rules only. `sinks` receive a decision record for every
    rule that fires. Text longer than `max_match_chars` is not matched or redacted: the
    rule gets an `error` verdict (fail closed), and so does a rule that finishes after
    the hook call's rules have used up `time_budget_ms` (None: no budget). With
    `capture` (True, or a `Capture` saying what to mask), every hook call also writes a
    call record with its masked facts, for `guardrails report` and `replay`. Raises
    `RulesError` with every diagnostic.
    """
    options = _options(shadow, catalog, tokenizer, max_match_chars, time_budget_ms, capture)
    files, diags = _sources(paths)
    return Policy(compile_sources(files, diags, options), options, Recorder(sinks), paths=paths)


def loads(
    text: str,
    filename: str = "<string>",
    *,
    shadow: bool | Iterable[str] = False,
    catalog: Catalog | None = None,
    tokenizer: Tokenizer | None = None,
    sinks: Sequence[Sink] = (),
    max_match_chars: int = DEFAULT_MAX_MATCH_CHARS,
    time_budget_ms: float | None = DEFAULT_TIME_BUDGET_MS,
    capture: Capture | bool | None = None,
) -> Policy:
    """Load rules from a string (tests, notebooks); `filename` is used in diagnostics."""
    options = _options(shadow, catalog, tokenizer, max_match_chars, time_budget_ms, capture)
    compiled = compile_sources([SourceFile(filename, text)], [], options)
    return Policy(compiled, options, Recorder(sinks), filename=filename)


def _options(
    shadow: bool | Iterable[str],
    catalog: Catalog | None,
    tokenizer: Tokenizer | None,
    max_match_chars: int,
    time_budget_ms: float | None,
    capture: Capture | bool | None = None,
) -> Options:
    frozen_shadow = shadow if isinstance(shadow, bool) else (
        (shadow,) if isinstance(shadow, str) else tuple(shadow)
    )  # fmt: skip
    chosen = Capture() if capture is True else capture or None
    return Options(frozen_shadow, catalog, tokenizer, max_match_chars, time_budget_ms, chosen)


def new_call_id() -> str:
    return uuid.uuid4().hex[:16]


def call_record(
    verdict: Verdict, facts: object, capture: Capture, call_id: str, duration_ms: float
) -> CallRecord:
    from ..records.capture import mask_facts

    request_id = facts.get("request_id") if isinstance(facts, Mapping) else None
    return CallRecord(
        hook=verdict.hook,
        ruleset=verdict.ruleset,
        time=time.time(),
        request_id=request_id if isinstance(request_id, str) else None,
        call_id=call_id,
        outcome=verdict.outcome,
        blocked_by=verdict.blocked_by,
        code=verdict.code,
        duration_ms=duration_ms,
        facts=mask_facts(facts, capture) if isinstance(facts, Mapping) else None,
    )


class Policy:
    """A compiled ruleset. `evaluate(hook, facts)` -> `Verdict`; `reload()` swaps it."""

    def __init__(
        self,
        compiled: Compiled,
        options: Options,
        recorder: Recorder | None = None,
        *,
        paths: Paths | None = None,
        filename: str | None = None,
    ) -> None:
        self._compiled = compiled
        self._versions: OrderedDict[str, Compiled] = OrderedDict({compiled.ruleset_hash: compiled})
        self.options = options
        self.recorder = recorder or Recorder()
        self._paths = paths
        self._filename = filename
        self._reload_lock = threading.Lock()
        self._managers: weakref.WeakSet[Any] = weakref.WeakSet()

    # ---- the current version ----

    @property
    def compiled(self) -> Compiled:
        """The version in force right now (read it once per operation)."""
        return self._compiled

    def version(self, ruleset_hash: str) -> Compiled | None:
        """A recent version by hash (for calls pinned to it), or None."""
        return self._versions.get(ruleset_hash)

    @property
    def ruleset_hash(self) -> str:
        return self._compiled.ruleset_hash

    @property
    def shadowed(self) -> frozenset[str]:
        return self._compiled.shadowed

    @property
    def generated_source(self) -> str:
        return self._compiled.generated_source

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return self._compiled.warnings

    @property
    def checked_rules(self) -> Mapping[str, ir.CheckedRule]:
        return self._compiled.checked_rules

    @property
    def tokenizer(self) -> Tokenizer | None:
        return self.options.tokenizer

    @property
    def max_match_chars(self) -> int:
        return self.options.max_match_chars

    @property
    def time_budget(self) -> float | None:
        return self.options.time_budget

    @property
    def catalog(self) -> Catalog:
        return self.options.catalog or DEFAULT_CATALOG

    @property
    def rules(self) -> tuple[RuleInfo, ...]:
        return tuple(
            RuleInfo(
                p.id,
                p.description,
                p.hooks,
                p.mode,
                p.on_error,
                p.priority,
                p.file,
                p.line,
                p.column,
            )
            for p in self._compiled.programs
        )

    @property
    def hooks(self) -> tuple[str, ...]:
        """Hooks that have at least one rule."""
        return tuple(sorted(self._compiled.by_hook))

    def programs(self, hook: str) -> tuple[RuleProgram, ...]:
        """The hook's compiled rules in evaluation order (for host adapters)."""
        return self._compiled.by_hook.get(hook, ())

    def evaluate(self, hook: str, facts: Mapping[str, Any]) -> Verdict:
        """Run the rules of `hook` on a dict of facts, with cpex's phase semantics.

        Never raises for bad facts or failing rules: those are `error` verdicts, and
        they block unless the rule is shadowed, audit, warn-only or `on_error ignore`.
        """
        compiled = self._compiled
        runner = compiled.runners.get(hook)
        if runner is None:
            if hook not in self.catalog:
                suggestion = self.catalog.suggest(hook)
                raise GuardrailsError(
                    f"unknown hook {hook!r}"
                    + (f"; did you mean {suggestion!r}?" if suggestion else "")
                )
            runner = engine.HookRunner(hook, (), compiled.shadowed, compiled.ruleset_hash)
        capture = self.options.capture
        if capture is None:
            verdict = runner.run(facts)
            if self.recorder and verdict.records:
                self.recorder.emit(verdict.records)
            return verdict
        call_id = new_call_id()
        start = time.perf_counter()
        verdict = runner.run(facts, call_id=call_id)
        elapsed = (time.perf_counter() - start) * 1000
        if self.recorder:
            self.recorder.emit(verdict.records)
            self.recorder.emit([call_record(verdict, facts, capture, call_id, elapsed)])
        return verdict

    # ---- reload ----

    def reload(self, text: str | None = None) -> Compiled:
        """Compile the rules again (or `text`, for a policy from `loads`) and swap.

        The new version is complete before it goes live; on errors this raises
        `RulesError` and the old version stays in force. Managers this policy
        registered into get the new version's plugins (see adapters/cpex.py).
        """
        with self._reload_lock:
            if text is not None or self._paths is None:
                if text is None:
                    raise GuardrailsError("this policy came from a string: pass the new text")
                files: list[SourceFile] = [SourceFile(self._filename or "<string>", text)]
                diags: list[Diagnostic] = []
            else:
                files, diags = _sources(self._paths)
            compiled = compile_sources(files, diags, self.options)
            if compiled.ruleset_hash == self._compiled.ruleset_hash:
                return self._compiled
            self._versions[compiled.ruleset_hash] = compiled
            while len(self._versions) > _KEPT_VERSIONS:
                self._versions.popitem(last=False)
            self._compiled = compiled  # the swap: one assignment
            for manager in list(self._managers):
                from ..adapters.cpex.binding import resync

                resync(self, manager)
            return compiled

    def watch(
        self,
        on_reload: Callable[[Compiled], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        debounce_ms: int = 200,
    ) -> Any:
        """Reload whenever a rules file changes, from a background thread.

        Returns the running watcher; `stop()` it when done. A broken edit is passed
        to `on_error` (and logged) while the last good rules stay in force.
        """
        from .watch import Watcher

        if self._paths is None:
            raise GuardrailsError("only a policy loaded from files can be watched")
        watcher = Watcher(self, self._paths, on_reload, on_error, debounce_ms)
        watcher.start()
        return watcher

    # ---- decision records ----

    def flush(self) -> None:
        """Wait until every decision record so far is written by every sink."""
        self.recorder.flush()

    def close(self) -> None:
        """Flush and close the sinks (a JSON Lines file, say)."""
        self.recorder.close()

    # ---- cpex binding (imports cpex only when called) ----

    def plugins(self) -> list[Any]:
        """cpex Plugins: one per (mode, priority) group, covering all the group's hooks.

        They follow reloads while the new rules fit in their groups and hooks; when a
        reload needs a group or hook they do not have, they block every call with
        code GUARDRAIL_STALE until the host takes new ones (never a silent allow)."""
        from ..adapters.cpex.binding import build_plugins

        return build_plugins(self, follow=True)

    def haystack_hooks(self) -> dict[str, list[Any]]:
        """Haystack Agent hooks for this policy's rules on Haystack hook points:
        `Agent(..., hooks=policy.haystack_hooks())` (needs the `haystack` extra)."""
        from ..adapters.haystack import haystack_hooks

        return haystack_hooks(self)

    async def manager(self, timeout: float = 30) -> Any:
        """A new, initialized cpex `TenantPluginManager` holding this policy's plugins."""
        from ..adapters.cpex.binding import new_manager

        return await new_manager(self, timeout=timeout)

    def register(self, manager: Any) -> list[Any]:
        """Register this policy's plugins in an initialized cpex manager; returns them.

        The manager is remembered (weakly): a `reload()` swaps its plugins too.
        """
        from ..adapters.cpex.binding import register_plugins

        plugins = register_plugins(self, manager)
        self._managers.add(manager)
        return plugins

    def __repr__(self) -> str:
        return f"<Policy {len(self._compiled.programs)} rules, {self.ruleset_hash[:12]}>"
