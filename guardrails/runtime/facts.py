"""Derived facts: values the runtime computes from other facts when the caller did not
give them. A given value always wins (a corpus case may say `"tokens": 5000`).

Each derived fact is computed at most once per call (cached in the call's `c` dict)
and only when some rule reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .ops import DEFAULT_MAX_MATCH_CHARS, Regex, estimate_tokens, matches, text_of

Tokenizer = Callable[[str], int]


def make_bindings(
    tokenizer: Tokenizer | None, max_match_chars: int = DEFAULT_MAX_MATCH_CHARS
) -> dict[str, Any]:
    """Names generated code uses whose behaviour depends on how the policy was loaded:
    derived facts and `tokens()` (the tokenizer), `matches` (the text size cap)."""
    count = tokenizer or estimate_tokens

    def matches_capped(text: object, patterns: tuple[Regex, ...]) -> bool:
        return matches(text, patterns, max_match_chars)

    def tokens_of(value: object) -> int | None:
        text = text_of(value)
        return None if text is None else count(text)

    def derive_tokens(f: dict[str, Any], c: dict[str, Any]) -> Any:
        given = f.get("tokens")
        if given is not None:
            return given
        if "tokens" not in c:
            c["tokens"] = tokens_of(f.get("prompt"))
        return c["tokens"]

    return {"_tokens": tokens_of, "_derived_tokens": derive_tokens, "_matches": matches_capped}


DERIVED_BINDINGS = {"tokens": "_derived_tokens"}
