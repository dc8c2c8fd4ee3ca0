"""Derived facts: values the runtime computes from other facts.

A caller may give one (a corpus case says `"tokens": 5000`; a host knows the real
count), but a given value never undercuts what the engine can see: `tokens` is the
larger of the given count and the estimate from `prompt`, and a given count that is
not a non-negative number (-1, NaN, "5") is a type error, so the call fails closed.

Each derived fact is computed at most once per call (cached in the call's `c` dict)
and only when some rule reads it. `DERIVED` is the one table of them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from .ops import (
    DEFAULT_MAX_MATCH_CHARS,
    Regex,
    RuleTypeError,
    estimate_tokens,
    matches,
    type_name,
)
from .text import text, text_of

Tokenizer = Callable[[str], int]
Count = Callable[[object], "int | None"]  # text (or chat messages) -> tokens
Derivation = Callable[[dict[str, Any], dict[str, Any]], Any]  # (facts, call cache) -> value


@dataclass(frozen=True, slots=True)
class DerivedFact:
    """A fact the runtime computes from another. Everything that needs to know about
    one reads this entry: the checker's catalog (its type and doc), codegen (the
    binding it calls, the source its fast path tests), the load (which facts a rule
    reads), the cpex payload extraction (which payload field to read) and explain."""

    name: str
    source: str  # the fact it is computed from
    type: str  # in the catalog's notation
    binding: str  # the global generated code calls, as `binding(f, c)`
    derive: Callable[[Tokenizer, Count], Derivation]  # built once per load
    doc: str


def _derive_tokens(count: Tokenizer, tokens_of: Count) -> Derivation:
    def derive_tokens(f: dict[str, Any], c: dict[str, Any]) -> Any:
        if "tokens" in c:
            return c["tokens"]
        given = f.get("tokens")
        prompt = f.get("prompt")
        estimate: float | None
        if type(prompt) is str:  # the common cases first, exact types only
            estimate = count(prompt)
        elif prompt is None:
            estimate = None
        else:
            estimate = tokens_of(prompt)
        if given is None:
            pass
        elif type(given) is int and given >= 0:
            estimate = given if estimate is None or given > estimate else estimate
        else:  # anything else given is checked properly (bools, floats, subclasses)
            if type(given) is bool or not isinstance(given, int | float) or not given >= 0:
                raise RuleTypeError(
                    f"tokens must be a non-negative number, got {type_name(given)}"
                    + (f" {given!r}" if isinstance(given, int | float) else "")
                )
            if isinstance(given, float) and given - given != 0.0:
                raise RuleTypeError(f"tokens must be a finite number, got {given!r}")
            estimate = given if estimate is None else max(given, estimate)
        c["tokens"] = estimate
        return estimate

    return derive_tokens


DERIVED: dict[str, DerivedFact] = {
    d.name: d
    for d in (
        DerivedFact(
            "tokens",
            "prompt",
            "int",
            "_derived_tokens",
            _derive_tokens,
            "estimated tokens of `prompt` (ceil(len/4) unless a tokenizer is given)",
        ),
    )
}


def derived_sources(reads: Collection[str]) -> frozenset[str]:
    """The facts to extract for the derived facts among `reads`."""
    return frozenset(d.source for d in DERIVED.values() if d.name in reads)


def make_bindings(
    tokenizer: Tokenizer | None, max_match_chars: int = DEFAULT_MAX_MATCH_CHARS
) -> dict[str, Any]:
    """Names generated code uses whose behaviour depends on how the policy was loaded:
    derived facts and `tokens()` (the tokenizer), `matches` and `text()` (the text
    size cap)."""
    count = tokenizer or estimate_tokens

    def matches_capped(text: object, patterns: tuple[Regex, ...]) -> bool:
        return matches(text, patterns, max_match_chars)

    def tokens_of(value: object) -> int | None:
        text = text_of(value)
        return None if text is None else count(text)

    def text_capped(value: object) -> str | None:
        return text(value, max_match_chars)

    bindings: dict[str, Any] = {
        "_tokens": tokens_of,
        "_matches": matches_capped,
        "_text": text_capped,
    }
    for fact in DERIVED.values():
        bindings[fact.binding] = fact.derive(count, tokens_of)
    return bindings
