"""Does a cpex config run its guardrails rules? The checks behind `check-config`.

cpex lets a call through, with at most a log line, in several configs where our
rules say it must not: it never calls an entry for a hook the entry does not list,
keeps only the first of two entries with one name, runs an entry whose mode selects
no rules as a no-op, and (with `on_error: ignore`) swallows the error a transform
entry raises to stop a call. Each problem found here has one of three severities:

- `REFUSED`: such a hole (or a config that would count declared state wrong, see
  `yaml_state`). The first `guardrails.cpex.RulesPlugin` entry cpex builds
  runs `check_entries` over the whole config and raises `ConfigRefused` (see
  `guardrails/cpex.py`), so the manager's `initialize()` raises.
- `BLOCKS`: the entry loads and fails closed on every call cpex routes to it: its
  rules do not load, its options are wrong, or it holds rules of another mode
  without `others: skip`.
- `WARNING`: rules that no entry of this config runs (the entries over them say
  `others: skip`): another host may run them, so this is not refused.

`guardrails check-config` reports all three; it exits 1 on the first two.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import load
from ...diagnostics import GuardrailsError, RulesError
from ...runtime.program import RuleProgram
from .yaml_state import Served, conflicts

if TYPE_CHECKING:
    from ...policy.loading import Compiled
    from ...policy.policy import Policy

KIND = "guardrails.cpex.RulesPlugin"
REFUSED, BLOCKS, WARNING = "refused", "blocks", "warning"
# what an entry that cannot run its rules does to the calls cpex routes to it
_EFFECT = {
    "transform": "raises on every call to {} (cpex PluginError)",
    "audit": "records the problem on every call to {}; the calls go on",
    "fire_and_forget": "records the problem on every call to {}; the calls go on",
}


def effect(mode: str, hooks: str) -> str:
    return _EFFECT.get(mode, "blocks every call to {}").format(hooks)


@dataclass(frozen=True)
class Problem:
    severity: str  # REFUSED, BLOCKS or WARNING
    field: str  # the entry's key it is about: name, hooks, mode, on_error, config
    message: str
    index: int = -1  # the entry's position in the config's `plugins` list
    entry: str = ""
    mode: str = ""


def value(item: Any) -> str:
    return str(getattr(item, "value", item))


def mode_of(entry: Any) -> str:
    return value(entry.mode)


def hooks_of(entry: Any) -> list[str]:
    return [value(h) for h in entry.hooks]


def options_problem(options: dict[str, Any]) -> str | None:
    if "rules" not in options:
        return "config.rules (a rules file or directory) is required"
    if options.get("others", "error") not in ("error", "skip"):
        return f"config.others must be 'error' or 'skip', not {options['others']!r}"
    if not isinstance(options.get("state", ""), str):
        return f"config.state must be 'memory' or a redis:// URL, not {options['state']!r}"
    budget = options.get("time_budget_ms")
    if (
        "time_budget_ms" in options
        and budget is not None
        and (isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0)
    ):
        return (
            "config.time_budget_ms must be a positive number of milliseconds, or null for "
            f"no budget, not {budget!r}"
        )
    return None


def static_problems(entry: Any) -> list[Problem]:
    """What lets calls through whatever the entry's rules say."""
    found = []
    if not entry.hooks:
        found.append(Problem(REFUSED, "hooks", "lists no hooks: cpex never calls it"))
    on_error = value(entry.on_error)
    if mode_of(entry) == "transform" and on_error in ("ignore", "disable"):
        found.append(Problem(REFUSED, "on_error",
            f"on_error: {on_error} on a transform entry: it stops a call by raising "
            "(cpex does not let a transform block) and cpex would swallow that and let "
            "the call through; use on_error: fail, and `on_error ignore` on the rules "
            "that may fail open"))  # fmt: skip
    return found


def fit(policy: Policy, compiled: Compiled, entry: Any) -> tuple[list[RuleProgram], list[Problem]]:
    """The rules `entry` runs from `compiled` (its mode's, on hooks cpex fires), and
    what in `compiled` contradicts the entry."""
    mode, hooks = mode_of(entry), set(hooks_of(entry))
    in_cpex = policy.catalog.in_cpex
    # rules only another host fires (Haystack hook points) are not this entry's
    programs = [p for p in compiled.programs if any(map(in_cpex, p.hooks))]
    mine = [p for p in programs if p.mode == mode]
    found = []
    other = [p.id for p in programs if p.mode != mode]
    if other and (entry.config or {}).get("others", "error") == "error":
        found.append(Problem(BLOCKS, "config",
            f"rules not in this entry's mode ({mode}): {', '.join(other)}; add an entry "
            "for their mode and set `others: skip`, or change their mode"))  # fmt: skip
    unlisted = sorted({h for p in mine for h in p.hooks if in_cpex(h)} - hooks)
    if unlisted and hooks:  # no hooks at all is a problem of its own
        found.append(Problem(REFUSED, "hooks",
            f"rules use hooks this entry does not list: {', '.join(unlisted)}; cpex "
            "never calls the entry for them, so those rules never run"))  # fmt: skip
    options = entry.config or {}
    workers, stateful = options.get("workers", 1), sorted({s for p in mine for s in p.states})
    if stateful and isinstance(workers, int) and workers > 1 and options.get("state") in (
        None, "memory"):  # fmt: skip
        found.append(Problem(BLOCKS, "state",
            f"rules use state ({', '.join(stateful)}) kept in memory, and `workers: {workers}` "
            "processes would each count on their own; keep it in Redis (`state: "
            "redis://...`)"))  # fmt: skip
    return mine, found


def no_rules(policy: Policy, compiled: Compiled, entry: Any) -> Problem:
    in_cpex = policy.catalog.in_cpex
    modes = sorted({p.mode for p in compiled.programs if any(map(in_cpex, p.hooks))})
    theirs = f" (theirs: {', '.join(modes)})" if modes else ""
    return Problem(REFUSED, "mode",
        f"selects no rules: the rules at {(entry.config or {}).get('rules')} have none in "
        f"mode {mode_of(entry)} on a hook cpex fires{theirs}")  # fmt: skip


def load_rules(options: dict[str, Any]) -> Policy | str:
    """The rules an entry names, or why they do not load (as the entry words it)."""
    try:
        return load(options["rules"])
    except RulesError as err:
        return f"rules at {options['rules']} have errors:\n{err}"
    except Exception as err:  # the entry fails closed on these too
        return repr(err)


def check_entries(entries: Sequence[Any]) -> list[Problem]:
    """Every problem of a cpex config's guardrails entries (see the module docstring)."""
    found: list[Problem] = []
    names: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        if mode_of(e) != "disabled":
            names.setdefault(e.name, []).append(i)
    for indexes in names.values():
        if len(indexes) > 1 and any(entries[i].kind == KIND for i in indexes):
            found += [_at(Problem(REFUSED, "name",
                f"plugins[{indexes[0]}] has the same name: cpex loads only the first and "
                "drops this one"), i, entries[i]) for i in indexes[1:]]  # fmt: skip
    policies: dict[str, Policy | str] = {}
    covered: set[tuple[str, str]] = set()
    skipped: list[tuple[int, Any, list[RuleProgram]]] = []
    served: list[Served] = []
    for i, e in enumerate(entries):
        if e.kind != KIND:
            continue
        enabled, options = mode_of(e) != "disabled", dict(e.config or {})
        mine, problems = _entry(e, options, policies)
        # a disabled entry is an explicit off switch: its rules count as run
        covered |= {_identity(p) for p in mine}
        if enabled:
            found += [_at(p, i, e) for p in problems]
            policy = policies.get(repr(options.get("rules")))
            if mine and not isinstance(policy, str | None):
                served.append((i, e, mine, policy))
            if not isinstance(policy, str | None) and options.get("others", "error") == "skip":
                in_cpex = policy.catalog.in_cpex
                others = [p for p in policy.compiled.programs if any(map(in_cpex, p.hooks))]
                skipped.append((i, e, [p for p in others if p.mode != mode_of(e)]))
    found += _other_entries(entries)
    found += [_at(Problem(REFUSED, "config", m), i, e) for i, e, m in conflicts(served)]
    return sorted(found + _uncovered(skipped, covered), key=lambda p: p.index)


def _other_entries(entries: Sequence[Any]) -> list[Problem]:
    """What cpex skips silently in the rest of the config: an entry whose kind does not
    import is left out and lets every call through (unless PLUGINS_FAIL_ON_PLUGIN_ERROR
    is set); with a guardrails entry in the config, that is refused too. (cpex's own
    config model rejects malformed external entries.) A hook no host fires is only a
    warning."""
    found: list[Problem] = []
    for i, e in enumerate(entries):
        if mode_of(e) == "disabled":
            continue
        unknown = [h for h in hooks_of(e) if not _known_hook(h)]
        if unknown:
            found.append(_at(Problem(WARNING, "hooks", f"no host fires {', '.join(unknown)} "
                "(not a cpex, Mellea or Haystack hook, nor one registered in this process)"),
                i, e))  # fmt: skip
        if e.kind not in (KIND, "external"):
            problem = _import_problem(e.kind)
            if problem:
                found.append(_at(Problem(REFUSED, "kind", problem), i, e))
    return found


def _known_hook(hook: str) -> bool:
    from cpex.framework.hooks.registry import get_hook_registry

    from ...check.catalog import DEFAULT_CATALOG

    return hook in DEFAULT_CATALOG or bool(get_hook_registry().is_registered(hook))


def _import_problem(kind: str) -> str | None:
    import importlib

    module, _, name = str(kind).rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name) if module else None
    except Exception as err:  # an import error of any kind is what cpex would skip on
        return f"kind {kind!r} does not import ({type(err).__name__}: {err}): cpex skips it"
    if found is None:
        return f"kind {kind!r} names no class: cpex skips it and lets its calls through"
    return None


def _entry(
    entry: Any, options: dict[str, Any], policies: dict[str, Policy | str]
) -> tuple[list[RuleProgram], list[Problem]]:
    """(the rules `entry` runs, its problems); `policies` caches loaded rules."""
    found = static_problems(entry)
    problem = options_problem(options)
    if problem is not None:
        return [], [*found, Problem(BLOCKS, "config", problem)]
    key = repr(options["rules"])
    if key not in policies:
        policies[key] = load_rules(options)
    policy = policies[key]
    if isinstance(policy, str):
        return [], [*found, Problem(BLOCKS, "config", policy)]
    mine, contradictions = fit(policy, policy.compiled, entry)
    found += contradictions
    if not mine:
        found.append(no_rules(policy, policy.compiled, entry))
    return mine, found


def _at(problem: Problem, index: int, entry: Any) -> Problem:
    return replace(problem, index=index, entry=entry.name, mode=mode_of(entry))


def _identity(program: RuleProgram) -> tuple[str, str]:
    return (os.path.realpath(program.file), program.id)


def _uncovered(
    skipped: list[tuple[int, Any, list[RuleProgram]]], covered: set[tuple[str, str]]
) -> list[Problem]:
    found = []
    reported = set(covered)
    for i, entry, programs in skipped:
        by_mode: dict[str, list[str]] = {}
        for p in programs:
            if _identity(p) not in reported:
                reported.add(_identity(p))
                by_mode.setdefault(p.mode, []).append(p.id)
        for mode, ids in sorted(by_mode.items()):
            found.append(_at(Problem(WARNING, "config",
                f"no entry of this config runs the {mode} rules {', '.join(ids)} "
                f"(`others: skip` here says another entry does); add an entry with mode "
                f"{mode} unless another host runs them"), i, entry))  # fmt: skip
    return found


def refusal(problems: Sequence[Problem], source: str | None) -> str:
    """The message of `ConfigRefused`: every refused problem, one per line."""
    where = f" {source}" if source else ""
    lines = [f"guardrails refuses the cpex config{where}: calls its rules block would go through"]
    for p in problems:
        entry = f"plugins[{p.index}] {p.entry!r}" if p.index >= 0 else repr(p.entry)
        lines.append(f"  {entry} ({p.field}): {p.message}")
    lines.append("  (`guardrails check-config CONFIG.yaml` finds these before a host starts)")
    return "\n".join(lines)


def check_file(path: Path) -> tuple[list[Problem], list[Any]]:
    """(problems, entries) of the cpex config file at `path`, read as cpex reads it;
    rules paths are relative to the working directory."""
    from cpex.framework.loader.config import ConfigLoader

    if not path.is_file():  # cpex would quietly load no plugins at all
        raise GuardrailsError(f"{path}: no such file (cpex would load no plugins)")
    try:
        config = ConfigLoader.load_config(str(path))
    except Exception as err:
        raise GuardrailsError(f"{path}: cpex cannot read it: {err}") from None
    entries = list(config.plugins or [])
    return check_entries(entries), entries


def entry_lines(text: str) -> list[dict[str, int]]:
    """For each entry of `plugins`, the line of the entry ("") and of each of its keys;
    [] when the text is not plain YAML (cpex renders Jinja first)."""
    import yaml  # type: ignore[import-untyped]

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, node in root.value:
        if key.value == "plugins" and isinstance(node, yaml.SequenceNode):
            found = []
            for item in node.value:
                lines = {"": item.start_mark.line + 1}
                if isinstance(item, yaml.MappingNode):
                    lines |= {str(k.value): k.start_mark.line + 1 for k, _ in item.value}
                found.append(lines)
            return found
    return []


def render(path: Path, problems: Sequence[Problem], lines: list[dict[str, int]]) -> list[str]:
    """`check-config` output: one `FILE:LINE: severity: entry 'name': message` each."""
    out = []
    for p in problems:
        at = lines[p.index] if 0 <= p.index < len(lines) else {}
        line = at.get(p.field) or at.get("")
        where = f"{path}:{line}" if line else f"{path}: plugins[{p.index}]"
        label = "warning" if p.severity == WARNING else "error"
        first, _, rest = p.message.rstrip().partition("\n")
        out.append(f"{where}: {label}: entry {p.entry!r}: {first}{_consequence(p)}")
        out += [f"    {line}" for line in rest.splitlines() if line.strip()]
    return out


def _consequence(problem: Problem) -> str:
    if problem.severity == REFUSED:
        return " [cpex initialize() fails on this config]"
    if problem.severity == BLOCKS:
        return f" [the entry loads and {effect(problem.mode, 'its hooks')}]"
    return ""
