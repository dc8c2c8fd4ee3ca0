"""The facade: `load()` runs parse -> check -> compile and returns a Policy.

A Policy holds one compiled version of its rules at a time. `reload()` compiles the
new version completely before swapping it in with one assignment, so every hook call
sees exactly one version; a broken edit raises `RulesError` and leaves the last good
version running. `check()` never raises on bad rules (for the CLI and editors).

A Policy knows no host. Host adapters (`guardrails.adapters`) take a Policy and read
what it exposes; one that must act on a reload subscribes to it (`subscribe`). The
host methods at the end of `Policy` are conveniences that import their adapter when
called, so nothing here pulls in a host library.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..check import ir
from ..check.catalog import DEFAULT_CATALOG, Catalog
from ..diagnostics import Diagnostic, GuardrailsError
from ..extras import missing_extra
from ..records.calls import call_record, new_call_id
from ..records.capture import private_paths
from ..records.recorder import Recorder
from ..runtime import engine
from ..runtime.breaker import Breakers
from ..runtime.decisions import BreakerRecord
from ..runtime.hostrun import offload
from ..runtime.program import RuleProgram
from ..runtime.state import Store
from ..runtime.verdict import Verdict
from ..source import SourceFile
from .frontend import Paths, check, check_text
from .frontend import sources as _sources
from .loading import Compiled, Options, compile_sources

__all__ = ["Policy", "RuleInfo", "check", "check_text", "load", "loads"]
_KEPT_VERSIONS = 4  # in-flight cpex calls pinned to an older version still find it
TRACING = "opentelemetry.trace"  # imported by the host: hook calls add span events
Listener = Callable[[Compiled], None]


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


def load(paths: Paths, **options: Any) -> Policy:
    """Load a rules file or directory (every `*.rules` under it, in sorted path order).

    Keywords: `shadow=True` turns every block into a would-block; a list of rule ids or
    globs does so for the matching rules only. `sinks` receive a decision record for
    every rule that fires. Text longer than `max_match_chars` is not matched or
    redacted: the rule gets an `error` verdict (fail closed), and so does a rule that
    finishes after the hook call's rules have used up `time_budget_ms` (None: no
    budget). With `capture` (True, or a `Capture` saying what to mask), every hook call
    also writes a call record with its masked facts, for `guardrails report` and
    `replay`. `catalog` and `tokenizer` replace the default ones. `breaker` gives rules
    without a `breaker` clause a circuit breaker (True, or a mapping with `failures`,
    `window_ms`, `cooldown_ms`; None, the default: none), or is the board itself (a
    `guardrails.runtime.breaker.Breakers`, e.g. with a clock of a test's own). Raises
    `RulesError` with every diagnostic.
    """
    chosen = Options.of("load", options)
    files, diags = _sources(paths)
    return Policy(compile_sources(files, diags, chosen), chosen, paths=paths)


def loads(text: str, filename: str = "<string>", **options: Any) -> Policy:
    """Load rules from a string (tests, notebooks); `filename` is used in diagnostics.
    Takes the keywords of `load()`."""
    chosen = Options.of("loads", options)
    compiled = compile_sources([SourceFile(filename, text)], [], chosen)
    return Policy(compiled, chosen, filename=filename)


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
        self.recorder = recorder or Recorder(options.sinks, private=private_paths(options.capture))
        if options.breaker is not None:  # trips and resets go where decisions go
            options.breaker.listen(self._breaker_changed)
        self._paths = paths
        self._filename = filename
        self._reload_lock = threading.Lock()
        self._listeners: list[weakref.ref[Listener]] = []
        self._listeners_lock = threading.Lock()  # not the reload lock: see subscribe()

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

    @property
    def state(self) -> Store:
        """Where the rules' declared states live (kept across reloads)."""
        return self.options.state  # type: ignore[return-value]

    @property
    def breakers(self) -> Breakers:
        """The circuit breakers of this policy's rules (and of anything else that
        asks the board for one), kept across reloads."""
        return self.options.breaker  # type: ignore[return-value]

    def _breaker_changed(self, record: BreakerRecord) -> None:
        if self.recorder:
            self.recorder.emit((record,))

    def programs(self, hook: str) -> tuple[RuleProgram, ...]:
        """The hook's compiled rules in evaluation order (for host adapters)."""
        return self._compiled.by_hook.get(hook, ())

    def evaluate(self, hook: str, facts: Mapping[str, Any], *, now: float | None = None) -> Verdict:
        """Run the rules of `hook` on a dict of facts, with cpex's phase semantics.

        Never raises for bad facts or failing rules: those are `error` verdicts, and
        they block unless the rule is shadowed, audit, warn-only or `on_error ignore`.
        A call updates and reads the policy's state store (`load(state=...)`); `now`
        (epoch seconds) is the time its windows are reckoned at, the clock by default.
        The verdict has a result for every rule, but only rules that can fire are run:
        the others' `pass` (or `skipped`) results are filled in when `rules` is read.
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
            verdict = runner.run(facts, now=now, detail=False, complete=True)
            if self.recorder and verdict.records:
                self.recorder.emit(verdict.records)
        else:
            call_id = new_call_id()
            start = time.perf_counter()
            verdict = runner.run(facts, call_id=call_id, now=now, detail=False, complete=True)
            elapsed = (time.perf_counter() - start) * 1000
            if self.recorder:
                self.recorder.emit(verdict.records)
                record = call_record(
                    verdict, facts, capture, call_id, elapsed, now, runner, self.options.tokenizer
                )
                self.recorder.emit([record])
        if TRACING in sys.modules:  # the process traces: decisions join its current span
            from ..adapters.otel import trace_verdict

            trace_verdict(verdict, runner)
        return verdict

    async def aevaluate(
        self, hook: str, facts: Mapping[str, Any], *, now: float | None = None
    ) -> Verdict:
        """`evaluate` for async code: a hook call whose rules call host functions runs in
        a worker thread, and their async functions on this loop, which keeps serving
        other tasks meanwhile (docs/functions.md); any other call runs inline."""
        runner = self._compiled.runners.get(hook)
        if runner is not None and runner.hosted:
            return await offload(functools.partial(self.evaluate, hook, facts, now=now))
        return self.evaluate(hook, facts, now=now)

    # ---- reload ----

    def reload(self, text: str | None = None) -> Compiled:
        """Compile the rules again (or `text`, for a policy from `loads`) and swap.

        The new version is complete before it goes live; on errors this raises
        `RulesError` and the old version stays in force. Subscribers are told of the
        new version before this returns, under the reload lock, in the order they
        subscribed (a host adapter swaps its plugins there; what one raises, this raises).
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
            for listener in self._live_listeners():
                listener(compiled)
            return compiled

    def subscribe(self, listener: Listener) -> Listener:
        """Call `listener(compiled)` after every reload that swaps in a new version.

        Held weakly (a bound method too), so a host's listener lives as long as the host
        object it serves and a policy never keeps a host alive; keep a reference to it.
        Safe while a reload runs: a host subscribes from the event loop that a reload in
        another thread may be waiting on, so this never waits for the reload lock."""
        method = inspect.ismethod(listener)
        ref = weakref.WeakMethod(listener) if method else weakref.ref(listener)
        with self._listeners_lock:
            self._listeners.append(ref)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        with self._listeners_lock:
            self._listeners = [r for r in self._listeners if r() not in (None, listener)]

    def _live_listeners(self) -> list[Listener]:
        with self._listeners_lock:
            live = [(ref, ref()) for ref in self._listeners]
            self._listeners = [ref for ref, listener in live if listener is not None]
        return [listener for _, listener in live if listener is not None]

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

    # ---- hosts: one-line delegations to guardrails.adapters, imported when called ----

    def plugins(self) -> list[Any]:
        """cpex Plugins: one per (mode, priority) group, covering all the group's hooks
        (the host may hold plugins of its own between them, so they never fuse).

        They follow reloads while the new rules fit in their groups and hooks; when a
        reload needs a group or hook they do not have, they block every call with
        code GUARDRAIL_STALE until the host takes new ones (never a silent allow)."""
        from ..adapters.cpex.binding import build_plugins

        return build_plugins(self, follow=True)

    def haystack_hooks(self) -> dict[str, list[Any]]:
        """Haystack Agent hooks for this policy's rules on Haystack hook points:
        `Agent(..., hooks=policy.haystack_hooks())` (needs the `haystack` extra)."""
        try:
            from ..adapters.haystack import haystack_hooks
        except ImportError as err:  # the feature asked for, not the module
            raise missing_extra("haystack", "policy.haystack_hooks()", err) from None
        return haystack_hooks(self)

    async def manager(self, timeout: float = 30, *, fuse: bool = True) -> Any:
        """A new, initialized cpex `TenantPluginManager` holding this policy's plugins
        (`fuse`: see `register`)."""
        from ..adapters.cpex.manager import new_manager

        return await new_manager(self, timeout=timeout, fuse=fuse)

    def register(self, manager: Any, *, fuse: bool = True) -> list[Any]:
        """Register this policy's plugins in an initialized cpex manager; returns them.

        The manager follows reloads: a `reload()` swaps its plugins too (for as long as
        the manager lives; it is not kept alive by this policy). With `fuse`, a mode's
        priorities share one plugin where no other plugin of the manager sits between
        them (docs/hosts.md); `fuse=False` keeps one per (mode, priority)."""
        from ..adapters.cpex.manager import register_plugins

        return register_plugins(self, manager, fuse)

    def __repr__(self) -> str:
        return f"<Policy {len(self._compiled.programs)} rules, {self.ruleset_hash[:12]}>"
