"""Sources -> a compiled ruleset: the stages run in order, and nothing else.

A `Compiled` is one complete, immutable version of a ruleset (its rules, runners and
hash). `Policy` holds the current one and swaps it whole on reload, so a hook call
always sees exactly one version. It holds what every host needs and nothing any one
host needs: a host that runs the rules in another shape (cpex's plugin groups) derives
that shape from a version and keys its cache on the version's identity.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..check import ir
from ..check.catalog import DEFAULT_CATALOG, Catalog
from ..compile import cache as rulecache
from ..compile.loader import Lowered, link, lower
from ..diagnostics import Diagnostic, GuardrailsError, RulesError, Severity, has_errors
from ..extras import missing_extra
from ..records import Sink
from ..records.capture import Capture
from ..runtime import engine
from ..runtime.breaker import BreakerConfig, Breakers
from ..runtime.facts import Tokenizer
from ..runtime.hostfn import HostTable
from ..runtime.ops import DEFAULT_MAX_MATCH_CHARS
from ..runtime.program import RuleProgram
from ..runtime.state import MemoryStore, Store
from ..runtime.state_plan import StatePlan
from ..source import SourceFile
from .frontend import front_end, host_table, no_gc

DEFAULT_TIME_BUDGET_MS = 250.0


@dataclass(frozen=True)
class Options:
    """The keywords of `load()` and `loads()`, each spelled here once; a reload uses the
    same. Built only through `Options.of`, which takes the keywords as users pass them
    (a list of shadow globs, `capture=True`) and stores one normal form."""

    shadow: bool | tuple[str, ...] = False
    catalog: Catalog | None = None
    tokenizer: Tokenizer | None = None
    sinks: tuple[Sink, ...] = ()
    max_match_chars: int = DEFAULT_MAX_MATCH_CHARS
    time_budget_ms: float | None = DEFAULT_TIME_BUDGET_MS
    capture: Capture | None = None
    # where declared states live: a store, or "memory" / "redis://..." (docs/state.md);
    # one store per load, kept across reloads
    state: Store | None = None
    # the host functions rules may call (`functions=`: runtime/hostfn.py), with the LLM
    # judge's (`judge=`: a client, docs/functions.md) added; one table per load
    functions: HostTable | None = None
    judge: Any = None
    # circuit breakers: the thresholds of rules without a `breaker` clause (None or
    # False: they have none; True: the defaults; {"failures", "window_ms",
    # "cooldown_ms"}), held with every breaker on one board kept across reloads
    breaker: Breakers | None = None
    # the compiled-ruleset cache (compile/cache.py): None the default directory (for
    # rulesets of `CACHE_MIN_CHARS` or more), False none, or a directory (every ruleset)
    cache: str | Path | bool | None = None

    @classmethod
    def of(cls, caller: str, keywords: Mapping[str, Any]) -> Options:
        """`keywords` as `caller` (load or loads) received them."""
        unknown = sorted(set(keywords) - _KEYWORDS)
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
        given = dict(keywords)
        shadow = given.get("shadow", False)
        if not isinstance(shadow, bool):
            given["shadow"] = (shadow,) if isinstance(shadow, str) else tuple(shadow)
        capture = given.get("capture")
        given["capture"] = Capture() if capture is True else capture or None
        given["sinks"] = tuple(given.get("sinks", ()))
        given["state"] = open_store(given.get("state"))
        given["functions"] = host_table(given.get("functions"), given.get("judge"))
        given["breaker"] = open_breakers(given.get("breaker"))
        return cls(**given)


_KEYWORDS = frozenset(f.name for f in fields(Options))


@dataclass(frozen=True, eq=False)
class Compiled:
    """One complete version of a ruleset. Compared and hashed by identity: a host keys
    what it derives from a version on the version itself."""

    programs: tuple[RuleProgram, ...]
    ruleset_hash: str
    shadowed: frozenset[str]
    generated_source: str
    warnings: tuple[Diagnostic, ...]
    checked_rules: Mapping[str, ir.CheckedRule]
    by_hook: Mapping[str, tuple[RuleProgram, ...]]
    runners: Mapping[str, engine.HookRunner]
    # the ruleset cache's entry for this version (compile/cache.py), if there is one,
    # and whether this version was linked from it rather than compiled
    cache_entry: Path | None = None
    from_cache: bool = False


def assemble(
    programs: Sequence[RuleProgram],
    digest: str,
    shadowed: frozenset[str],
    source: str,
    warnings: Sequence[Diagnostic],
    checked: Mapping[str, ir.CheckedRule],
    time_budget_ms: float | None,
    plans: Mapping[str, StatePlan] | None = None,
    store: Store | None = None,
    breakers: Breakers | None = None,
    cache: tuple[Path | None, bool] = (None, False),
) -> Compiled:
    budget = time_budget_ms / 1000 if time_budget_ms is not None else None  # runners count seconds
    by_hook: dict[str, list[RuleProgram]] = {}
    for prog in programs:
        for hook in prog.hooks:
            by_hook.setdefault(hook, []).append(prog)
    ordered = {hook: tuple(sorted(p, key=lambda x: x.sort_key)) for hook, p in by_hook.items()}
    plans = plans or {}
    runners = {
        hook: engine.HookRunner(
            hook, progs, shadowed, digest, budget, plans.get(hook), store, breakers
        )
        for hook, progs in ordered.items()
    }
    return Compiled(
        tuple(programs), digest, shadowed, source, tuple(warnings), checked, ordered, runners,
        *cache,
    )  # fmt: skip


CACHE_MIN_CHARS = 4096  # smaller rulesets load faster than a cache entry is read


def _cache_dir(files: Sequence[SourceFile], options: Options) -> Path | None:
    if options.cache is None and sum(len(f.text) for f in files) < CACHE_MIN_CHARS:
        return None
    return rulecache.directory(options.cache)


def compile_sources(files: list[SourceFile], diags: list[Diagnostic], options: Options) -> Compiled:
    """Parse, check and compile, or link what the cache holds for exactly these
    inputs; raises `RulesError` with every diagnostic.

    The checked IR is not kept (`LazyRules` works it out again for `--explain`): it
    is most of a load's memory, and no hook call reads it."""
    catalog = options.catalog or DEFAULT_CATALOG
    store = None if has_errors(diags) else _cache_dir(files, options)
    key = rulecache.key(files, catalog, options.functions, options.max_match_chars) if store else ""
    with no_gc():
        hit = rulecache.read(store, key, files) if store is not None else None
        if hit is not None:
            low, digest, warnings = hit
        else:
            low, digest, warnings = _compile(files, diags, catalog, options)
            if store is not None and not rulecache.write(store, key, low, digest, warnings):
                store = None  # nothing was written
        programs, plans = link(
            low, digest, options.tokenizer, options.max_match_chars, options.functions,
            options.breaker,
        )  # fmt: skip
        shadowed = _shadow_ids(options.shadow, programs)
        checked = rulecache.LazyRules(lambda: front_end(files, catalog, options.functions)[0])
        return assemble(
            programs, digest, shadowed, low.source, warnings, checked, options.time_budget_ms,
            plans, options.state, options.breaker,
            (rulecache.entry(store, key) if store is not None else None, hit is not None),
        )  # fmt: skip


def _compile(
    files: list[SourceFile], diags: list[Diagnostic], catalog: Catalog, options: Options
) -> tuple[Lowered, str, list[Diagnostic]]:
    ruleset, more = front_end(files, catalog, options.functions)
    diags = diags + more
    if has_errors(diags):
        raise RulesError(diags)
    warnings = [d for d in diags if d.severity is Severity.WARNING]
    return lower(ruleset, options.max_match_chars), ruleset_hash(ruleset.sources), warnings


def open_store(state: object) -> Store:
    """`load(state=...)`: None or "memory" for a store in this process, a
    `redis://` URL for Redis (the `redis` extra), or any object with `exchange`."""
    if state is None or state == "memory":
        return MemoryStore()
    if isinstance(state, str):
        if state.startswith(("redis://", "rediss://", "unix://")):
            try:
                from ..adapters.redis_store import RedisStore
            except ImportError as err:
                raise missing_extra("redis", f"state {state.split('://')[0]}://...", err) from None
            return RedisStore.from_url(state)
        raise GuardrailsError(f'unknown state store {state!r}: use "memory" or a redis:// URL')
    if not callable(getattr(state, "exchange", None)):
        raise GuardrailsError(f'state must be a store, "memory" or a redis:// URL, got {state!r}')
    return state  # type: ignore[return-value]


def open_breakers(value: object) -> Breakers:
    """`load(breaker=...)`: a board of its own for this load, or the `Breakers` given."""
    if isinstance(value, Breakers):
        return value
    try:
        return Breakers(BreakerConfig.of(value))
    except ValueError as err:
        raise GuardrailsError(str(err)) from None


def ruleset_hash(sources: Iterable[tuple[str, str]]) -> str:
    """Stable across runs and machines: sha256 over (file name, text) in load order."""
    h = hashlib.sha256()
    for path, text in sources:
        h.update(Path(path).name.encode(errors="surrogatepass"))
        h.update(b"\0")
        h.update(text.encode(errors="surrogatepass"))  # `loads()` text may hold any str
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
