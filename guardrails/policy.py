"""The facade: `load()` runs parse -> check -> compile and returns an immutable Policy.

`check()` runs the same stages up to the checker and never raises on bad rules (for
the CLI and editors). A Policy is built once and never changes; to change rules,
load again.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .check import ir
from .check.catalog import DEFAULT_CATALOG, Catalog
from .check.rules import check_modules
from .compile.loader import compile_rules
from .diagnostics import Diagnostic, GuardrailsError, RulesError, Severity, has_errors, sort_key
from .runtime import engine
from .runtime.facts import Tokenizer
from .runtime.ops import DEFAULT_MAX_MATCH_CHARS
from .runtime.program import RuleProgram
from .runtime.records import Recorder, Sink
from .runtime.verdict import Verdict
from .source import SourceFile
from .syntax import ast
from .syntax.parser import parse

DEFAULT_TIME_BUDGET_MS = 250.0

PathLike = str | Path
Paths = PathLike | Sequence[PathLike]


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


def _sources(paths: Paths) -> tuple[list[SourceFile], list[Diagnostic]]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[SourceFile] = []
    diags: list[Diagnostic] = []
    for item in items:
        root = Path(item)
        display = str(item)
        if root.is_dir():
            found = sorted(p for p in root.rglob("*.rules") if p.is_file())
            if not found:
                diags.append(
                    Diagnostic(
                        "GR0105",
                        Severity.ERROR,
                        f"no .rules files found in {display}",
                        SourceFile(display, "").span(0, 0),
                        hint="rule files end in .rules",
                    )
                )
            targets = [(p, str(Path(display) / p.relative_to(root))) for p in found]
        else:
            targets = [(root, display)]
        for path, shown in targets:
            try:
                files.append(SourceFile.read(path, shown))
            except (OSError, UnicodeDecodeError) as err:
                reason = (
                    "not valid UTF-8"
                    if isinstance(err, UnicodeDecodeError)
                    else (err.strerror or str(err))
                )
                diags.append(
                    Diagnostic(
                        "GR0104",
                        Severity.ERROR,
                        f"cannot read {shown}: {reason}",
                        SourceFile(shown, "").span(0, 0),
                    )
                )
    return files, diags


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Cyclic GC paused: a load allocates hundreds of objects per rule and frees almost
    none, so GC passes over them are pure cost (3.4 s -> 2.1 s for 10,000 rules)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _front_end(
    files: Sequence[SourceFile], catalog: Catalog
) -> tuple[ir.CheckedRuleset, list[Diagnostic]]:
    modules: list[ast.Module] = []
    diags: list[Diagnostic] = []
    for file in files:
        module, parse_diags = parse(file)
        modules.append(module)
        diags.extend(parse_diags)
    ruleset, check_diags = check_modules(modules, catalog)
    return ruleset, sorted(diags + check_diags, key=sort_key)


def check(paths: Paths, *, catalog: Catalog | None = None) -> list[Diagnostic]:
    """Every diagnostic for the rules at `paths` (errors and warnings); never raises."""
    files, diags = _sources(paths)
    with _no_gc():
        _, more = _front_end(files, catalog or DEFAULT_CATALOG)
    return sorted(diags + more, key=sort_key)


def load(
    paths: Paths,
    *,
    shadow: bool | Iterable[str] = False,
    catalog: Catalog | None = None,
    tokenizer: Tokenizer | None = None,
    sinks: Sequence[Sink] = (),
    max_match_chars: int = DEFAULT_MAX_MATCH_CHARS,
    time_budget_ms: float | None = DEFAULT_TIME_BUDGET_MS,
) -> Policy:
    """Load a rules file or directory (every `*.rules` under it, in sorted path order).

    `shadow=True` turns every block into a would-block; a list of rule ids or globs
    does so for the matching rules only. `sinks` receive a decision record for every
    rule that fires. Text longer than `max_match_chars` is not matched or redacted: the
    rule gets an `error` verdict (fail closed), and so does a rule that finishes after
    the hook call's rules have used up `time_budget_ms` (None: no budget). Raises
    `RulesError` with every diagnostic.
    """
    files, diags = _sources(paths)
    return _build(files, diags, shadow, catalog, tokenizer, sinks, max_match_chars, time_budget_ms)


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
) -> Policy:
    """Load rules from a string (tests, notebooks); `filename` is used in diagnostics."""
    return _build(
        [SourceFile(filename, text)], [], shadow, catalog, tokenizer, sinks, max_match_chars,
        time_budget_ms,
    )  # fmt: skip


def _build(
    files: list[SourceFile],
    diags: list[Diagnostic],
    shadow: bool | Iterable[str],
    catalog: Catalog | None,
    tokenizer: Tokenizer | None,
    sinks: Sequence[Sink],
    max_match_chars: int = DEFAULT_MAX_MATCH_CHARS,
    time_budget_ms: float | None = DEFAULT_TIME_BUDGET_MS,
) -> Policy:
    cat = catalog or DEFAULT_CATALOG
    with _no_gc():
        ruleset, more = _front_end(files, cat)
        diags = diags + more
        if has_errors(diags):
            raise RulesError(diags)
        digest = ruleset_hash(ruleset.sources)
        programs, source = compile_rules(ruleset, digest, tokenizer, max_match_chars)
    warnings = [d for d in diags if d.severity is Severity.WARNING]
    shadowed = _shadow_ids(shadow, programs)
    budget = time_budget_ms / 1000 if time_budget_ms is not None else None
    policy = Policy(programs, cat, digest, shadowed, source, warnings, Recorder(sinks), budget)
    policy.checked_rules = {rule.id: rule for rule in ruleset.rules}
    policy.tokenizer = tokenizer
    policy.max_match_chars = max_match_chars
    return policy


def ruleset_hash(sources: Iterable[tuple[str, str]]) -> str:
    """Stable across runs and machines: sha256 over (file name, text) in load order."""
    h = hashlib.sha256()
    for path, text in sources:
        h.update(Path(path).name.encode())
        h.update(b"\0")
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()


def _shadow_ids(shadow: bool | Iterable[str], programs: Sequence[RuleProgram]) -> frozenset[str]:
    ids = [p.id for p in programs]
    if shadow is True:
        return frozenset(ids)
    if shadow is False or shadow is None:
        return frozenset()
    if isinstance(shadow, str):
        shadow = [shadow]
    chosen: set[str] = set()
    unmatched: list[str] = []
    for pattern in shadow:
        hits = fnmatch.filter(ids, pattern)
        if not hits:
            unmatched.append(pattern)
        chosen.update(hits)
    if unmatched:
        raise GuardrailsError(
            f"shadow patterns match no rule: {', '.join(unmatched)} "
            f"(rules: {', '.join(ids) or 'none'})"
        )
    return frozenset(chosen)


class Policy:
    """A compiled, immutable ruleset. `evaluate(hook, facts)` -> `Verdict`."""

    def __init__(
        self,
        programs: Sequence[RuleProgram],
        catalog: Catalog,
        ruleset_hash: str,
        shadowed: frozenset[str],
        generated_source: str,
        warnings: Sequence[Diagnostic] = (),
        recorder: Recorder | None = None,
        time_budget: float | None = None,
    ) -> None:
        self._programs = tuple(programs)
        self._catalog = catalog
        self.ruleset_hash = ruleset_hash
        self.shadowed = shadowed
        self.generated_source = generated_source
        self.warnings = tuple(warnings)
        self.recorder = recorder or Recorder()
        self.checked_rules: Mapping[str, ir.CheckedRule] = {}  # for explanations
        self.tokenizer: Tokenizer | None = None
        self.max_match_chars = DEFAULT_MAX_MATCH_CHARS
        by_hook: dict[str, list[RuleProgram]] = {}
        for prog in self._programs:
            for hook in prog.hooks:
                by_hook.setdefault(hook, []).append(prog)
        self._by_hook: Mapping[str, tuple[RuleProgram, ...]] = {
            hook: tuple(sorted(progs, key=lambda p: p.sort_key)) for hook, progs in by_hook.items()
        }
        self.time_budget = time_budget  # seconds per hook call, or None
        self._runners = {
            hook: engine.HookRunner(hook, progs, shadowed, ruleset_hash, time_budget)
            for hook, progs in self._by_hook.items()
        }

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
            for p in self._programs
        )

    @property
    def hooks(self) -> tuple[str, ...]:
        """Hooks that have at least one rule."""
        return tuple(sorted(self._by_hook))

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def programs(self, hook: str) -> tuple[RuleProgram, ...]:
        """The hook's compiled rules in evaluation order (for host adapters)."""
        return self._by_hook.get(hook, ())

    def evaluate(self, hook: str, facts: Mapping[str, Any]) -> Verdict:
        """Run the rules of `hook` on a dict of facts, with cpex's phase semantics.

        Never raises for bad facts or failing rules: those are `error` verdicts, and
        they block unless the rule is shadowed, audit, warn-only or `on_error ignore`.
        """
        if hook not in self._by_hook and hook not in self._catalog:
            raise GuardrailsError(
                f"unknown hook {hook!r}"
                + (f"; did you mean {s!r}?" if (s := self._catalog.suggest(hook)) else "")
            )
        runner = self._runners.get(hook)
        if runner is None:
            runner = engine.HookRunner(hook, (), self.shadowed, self.ruleset_hash)
        verdict = runner.run(facts)
        if self.recorder and verdict.records:
            self.recorder.emit(verdict.records)
        return verdict

    # ---- decision records ----

    def flush(self) -> None:
        """Wait until every decision record so far is written by every sink."""
        self.recorder.flush()

    def close(self) -> None:
        """Flush and close the sinks (a JSON Lines file, say)."""
        self.recorder.close()

    # ---- cpex binding (imports cpex only when called) ----

    def plugins(self) -> list[Any]:
        """cpex Plugins: one per (mode, priority) group, covering all the group's hooks."""
        from .adapters.cpex import build_plugins

        return build_plugins(self)

    async def manager(self, timeout: float = 30) -> Any:
        """A new, initialized cpex `TenantPluginManager` holding this policy's plugins."""
        from .adapters.cpex import new_manager

        return await new_manager(self, timeout=timeout)

    def register(self, manager: Any) -> list[Any]:
        """Register this policy's plugins in an initialized cpex manager; returns them."""
        from .adapters.cpex import register_plugins

        return register_plugins(self, manager)

    def __repr__(self) -> str:
        return f"<Policy {len(self._programs)} rules, {self.ruleset_hash[:12]}>"
