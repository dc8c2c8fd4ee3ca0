"""What to say about a word the parser did not expect: a did-you-mean over the
keywords that fit there, and the words authors bring from other policy languages
(`deny`, `allow`, `log`) where an action belongs, and a list literal where a path
ends."""

from __future__ import annotations

import difflib
from typing import Any

from lark import Token, Tree

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile, Span

# a word from another policy language -> the action that does its job here
_ACTION_SYNONYMS = {
    **dict.fromkeys(("deny", "reject", "refuse", "drop", "forbid", "disallow"), "block"),
    **dict.fromkeys(("stop", "abort", "fail", "error", "raise", "halt"), "block"),
    **dict.fromkeys(("log", "alert", "notify", "flag", "audit", "report"), "warn"),
    **dict.fromkeys(("mask", "scrub", "censor", "hide", "anonymize"), "redact"),
    **dict.fromkeys(("modify", "rewrite", "update", "assign"), "set"),
}
_ALLOW = frozenset({"allow", "permit", "accept", "pass", "approve", "ok"})
_NO_ALLOW = (
    "there is no `allow`: a call no rule blocks goes through, so a rule says when to "
    "block, warn or rewrite; turn the condition around (`unless ...`) and `block`"
)


def word_hint(word: str, kind: str, expected: set[str], action_expected: bool) -> str | None:
    """A hint for `word` (a NAME token, or a keyword out of place) where the keywords
    in `expected` would fit; None when nothing useful can be said."""
    if kind != "NAME" and word not in _ACTION_SYNONYMS and word not in _ALLOW:
        return None
    lowered = word.lower()
    if action_expected:
        if lowered in _ALLOW:
            return _NO_ALLOW
        action = _ACTION_SYNONYMS.get(lowered)
        if action is not None and action in expected:
            return f"did you mean `{action}`?"
    keywords = sorted(w for w in expected if w.isidentifier())
    close = difflib.get_close_matches(lowered, keywords, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def list_after_pattern_path(values: list[Any], file: SourceFile, got: Span) -> Diagnostic | None:
    """`redact prompt ["a", "b"]`: a list literal after `redact PATH` (or `replace
    PATH`) reads as an index of the path, so the parser stops at its comma or at the
    missing pattern. Said as what it is, with the `let` that fixes it; None when the
    error is not that."""
    at = next(
        (i for i in range(len(values) - 1, -1, -1) if _is(values[i], "REDACT", "REPLACE")),
        None,
    )
    if at is None:
        return None
    rest = values[at + 1 :]
    open_at = next((v.start_pos for v in rest if _is(v, "LSQB")), None)
    if open_at is None and rest and isinstance(rest[0], Tree) and rest[0].data == "path":
        index = next((t for t in rest[0].children if _is(t, "STRING", "INT")), None)
        if isinstance(index, Token) and index.start_pos is not None:
            open_at = file.text.rfind("[", 0, index.start_pos)
            if open_at > 0 and not file.text[open_at - 1].isspace():
                return None  # `tool.args["to"]` written as an index: it is one
    if open_at is None or open_at < 0:
        return None
    verb = str(values[at])
    line_end = file.text.find("\n", open_at)
    line_end = len(file.text) if line_end < 0 else line_end
    close = file.text.find("]", open_at, line_end)
    shown = file.text[open_at : close + 1] if close > 0 else "[...]"
    target = file.text[values[at].end_pos : open_at].strip() or "PATH"
    end = close + 1 if close > 0 else max(got.end, open_at + 1)
    then = f"{verb} {target} patterns" + (" with ..." if verb == "replace" else "")
    return Diagnostic(
        "GR0100",
        Severity.ERROR,
        f"a list literal cannot follow `{verb} {target}`: it reads as an index of {target}",
        file.span(open_at, end),
        hint=f"bind the list with `let` and {verb} by its name: "
        f"`let patterns = {shown}`, then `{then}`",
    )


def _is(value: Any, *kinds: str) -> bool:
    return isinstance(value, Token) and value.type in kinds
