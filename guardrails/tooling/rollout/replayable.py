"""Which recorded calls a ruleset can be replayed on, and which rules a replay judges.

A call record's facts are masked where they held text (records/capture.py), with the
derived facts the rules read kept beside them. A rule can be replayed on a call when
everything it reads is there: each fact it reads as such unmasked, each derived fact
either from its unmasked source or as captured. `tokens > 4000` replays on a log
without a single prompt; `prompt contains "x"` does not, and the replay names the
rule and the fact rather than guess from a hash.

A call is replayed whole (a verdict depends on every rule of the hook: who blocks
first, what a `set` changed), so one rule lacking a fact makes the call not
replayable for the others too. Replay's gate counts, per *changed* rule, the calls of
its hooks that could not be replayed: a change judged on a fraction of the traffic
must not pass silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...check import ir
from ...compile.loader import _exprs
from ...policy.policy import Policy
from ...records.capture import is_masked
from ...runtime.facts import DERIVED


@dataclass(frozen=True)
class Needs:
    """What one rule reads: facts as given (top-level names) and derived facts."""

    rule: str
    direct: frozenset[str]
    derived: frozenset[str]


def rule_needs(rule: ir.CheckedRule) -> Needs:
    direct: set[str] = set()
    derived: set[str] = set()
    for expr in _exprs(rule):
        for ref in _fact_refs(expr):
            if ref.derived is not None:
                derived.add(ref.derived)
            elif isinstance(ref.path[0], str):
                direct.add(ref.path[0])
    return Needs(rule.id, frozenset(direct), frozenset(derived))


def _fact_refs(node: ir.IR) -> Iterator[ir.FactRef]:
    if isinstance(node, ir.FactRef):
        yield node
    else:
        for child in ir.children(node):
            yield from _fact_refs(child)


class Reads:
    """A policy's rules' needs, by hook (worked out from the checked rules once)."""

    def __init__(self, policy: Policy) -> None:
        checked = policy.checked_rules
        self.by_hook: dict[str, tuple[Needs, ...]] = {}
        # per hook, everything its rules read: most calls lack none of it, and are
        # cleared without a look at each rule
        self.union: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        for hook in policy.hooks:
            needs = tuple(rule_needs(checked[p.id]) for p in policy.programs(hook))
            self.by_hook[hook] = needs
            self.union[hook] = (
                frozenset().union(*(n.direct for n in needs)),
                frozenset().union(*(n.derived for n in needs)),
            )

    def missing(
        self, hook: str, facts: Mapping[str, Any], derived: Mapping[str, Any]
    ) -> list[tuple[str, str, str]]:
        """(rule, fact, why) for every fact a rule of `hook` reads that the call lacks:
        `("odd", "prompt", "masked")`, `("budget", "tokens", "prompt masked, tokens not
        captured")`."""
        direct, derived_reads = self.union.get(hook, (frozenset(), frozenset()))
        if not any(_has_mask(facts.get(name)) for name in direct) and all(
            name in derived or not _has_mask(facts.get(DERIVED[name].source))
            for name in derived_reads
        ):
            return []
        out = []
        for needs in self.by_hook.get(hook, ()):
            for name in sorted(needs.direct):
                if _has_mask(facts.get(name)):
                    out.append((needs.rule, name, "masked"))
            for name in sorted(needs.derived):
                source = DERIVED[name].source
                if name not in derived and _has_mask(facts.get(source)):
                    out.append((needs.rule, name, f"{source} masked, {name} not captured"))
        return out


def _has_mask(value: Any) -> bool:
    if is_masked(value):
        return True
    if isinstance(value, dict):
        return any(_has_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_mask(v) for v in value)
    return False


def replay_facts(facts: dict[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    """The facts a replayable call is evaluated on: a derived fact whose source was
    masked is given as captured, and the masked source left out (no rule reads it as
    such, or the call would not be replayable), so it is not derived from a hash."""
    out = facts
    for name, value in derived.items():
        fact = DERIVED.get(name)
        if fact is not None and is_masked(facts.get(fact.source)):
            if out is facts:
                out = dict(facts)
            out.pop(fact.source, None)
            out[name] = value
    return out


def changed_rules(candidate: Policy, baseline: Policy | None, recorded: set[str]) -> set[str]:
    """Rule ids whose verdicts a replay is there to judge: with a baseline, the rules
    added, removed or edited (by their text's digest); against a log, every rule,
    unless the log was recorded with exactly the candidate ruleset."""
    new = {p.id: p.digest for p in candidate.compiled.programs}
    if baseline is None:
        return set() if recorded == {candidate.ruleset_hash} else set(new)
    old = {p.id: p.digest for p in baseline.compiled.programs}
    return {rule for rule in new.keys() | old.keys() if new.get(rule) != old.get(rule)}


def hooks_of(policies: list[Policy], rules: set[str]) -> dict[str, set[str]]:
    """hook -> the rules among `rules` that run on it, in any of `policies`."""
    out: dict[str, set[str]] = {}
    for policy in policies:
        for program in policy.compiled.programs:
            if program.id in rules:
                for hook in program.hooks:
                    out.setdefault(hook, set()).add(program.id)
    return out


Missing = tuple[str, str, str]  # rule, fact, why


def count_missing(found: list[Missing], into: Counter[Missing]) -> None:
    for pair in set(found):
        into[pair] += 1
