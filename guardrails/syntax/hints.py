"""What to say where the parser stopped, in the terms of what was written there.

A did-you-mean over the keywords that fit; the words authors bring from other policy
languages and from Python (`deny`, `allow`, `if`, `else`, `is`, `x.contains(y)`),
each answered with what this language writes instead; and the shapes of a few
common slips (`block("why")`, `code "E1"`, `rule too-long`, `every 1 hour`, a list
literal after `redact PATH`). Each hint is chosen from the token, the keywords the
parser could take there and the tokens just before it (`At`), so it fits the text
and is never a guess about a different mistake.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
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
_CLAUSE_SYNONYMS = {"if": "when", "where": "when", "whenever": "when", "except": "unless"}
_NO_THEN = "nothing goes between the condition and the action: `when COND block`"
_NO_ELSE = "there is no `else`: write a second rule with the opposite condition (`unless COND`)"
_OPERATOR_SYNONYMS = {
    **dict.fromkeys(("is", "equals", "equal", "eq"), "=="),
    **dict.fromkeys(("isnt", "ne", "neq"), "!="),
    **dict.fromkeys(("has", "includes", "include", "contain"), "contains"),
    **dict.fromkeys(("like", "match", "matching", "regex", "rlike"), "matches"),
    **dict.fromkeys(("starts_with", "startsWith", "begins_with"), "startswith"),
    **dict.fromkeys(("ends_with", "endsWith"), "endswith"),
    **{"lt": "<", "gt": ">", "le": "<=", "ge": ">=", "lte": "<=", "gte": ">="},
}
_TEXT_OPERATORS = frozenset({"contains", "startswith", "endswith", "matches"})
_REASON_ACTIONS = frozenset({"BLOCK", "WARN", "CONTINUE"})
_CLAUSES = frozenset({"when", "unless", "mode", "priority", "on_error", "since", "breaker"})
_TAKES_VALUE = frozenset({"CODE", "MODE", "PRIORITY", "ON_ERROR", "SINCE", "BREAKER", "LIMIT"})
_TAKES_DURATION = frozenset({"EVERY", "KEEP", "IN", "COOLDOWN"})


@dataclass(frozen=True, slots=True)
class At:
    """Where the parser stopped: the token it did not expect and what it did."""

    word: str  # the token's text
    kind: str  # its terminal (NAME, STRING, LPAR, $END, or a keyword's)
    expected: frozenset[str]  # the spellings of the keywords and punctuation it could take
    groups: frozenset[str]  # what it could take: "action", "clause", "item", "operator", ...
    before: tuple[Token, ...]  # the tokens before it, nearest last (at most two)
    rest: str = ""  # the text from the token to the end of its line

    def after(self, *kinds: str) -> bool:
        return bool(self.before) and self.before[-1].type in kinds


def token_hint(at: At) -> str | None:
    """A hint that fits what was written where the parser stopped; None when
    nothing useful can be said."""
    for rule in (_word, _punctuation):
        hint = rule(at)
        if hint is not None:
            return hint
    return None


def _word(at: At) -> str | None:
    if not at.word.isidentifier():
        return None
    word, lowered = at.word, at.word.lower()
    if "action" in at.groups:
        if lowered in _ALLOW:
            return _NO_ALLOW
        action = _ACTION_SYNONYMS.get(lowered)
        if action is not None:
            return f"did you mean `{action}`?"
        if word in _CLAUSES and "clause" not in at.groups:
            return (
                "clauses (`when`, `unless`, `mode`, ...) come before the actions: "
                "`on HOOK when COND block`"
            )
    if "action" in at.groups or "clause" in at.groups:
        if lowered in _CLAUSE_SYNONYMS:
            return f"did you mean `{_CLAUSE_SYNONYMS[lowered]}`?"
        if lowered in ("then", "do"):
            return _NO_THEN
        if lowered in ("else", "otherwise", "elif"):
            return _NO_ELSE
    if "operator" in at.groups and word in _OPERATOR_SYNONYMS:
        return f"did you mean `{_OPERATOR_SYNONYMS[word]}`?"
    if "operator" in at.groups and lowered == "between":
        return "write both bounds: `x >= LOW and x <= HIGH`"
    if word in _TEXT_OPERATORS and at.after("NOT"):
        return f"only `in` can follow `not`: write `not (A {word} B)`"
    if at.kind == "NAME" and at.after(*_REASON_ACTIONS) and "string" in at.groups:
        return f'a reason is a quoted string right after the action: `{at.before[-1]} "..."`'
    close = difflib.get_close_matches(
        lowered, sorted(w for w in at.expected if w.isidentifier()), n=1, cutoff=0.6
    )
    if close:
        return f"did you mean '{close[0]}'?"
    if at.kind == "NAME" and "item" in at.groups and "action" not in at.groups:
        return f"a rule starts with `on HOOK` or `rule NAME on HOOK`: did you mean `on {word}`?"
    return None


def _punctuation(at: At) -> str | None:
    word = at.word
    if at.after("CODE") and at.kind in ("STRING", "$END"):
        return "a code is a bare name (letters, digits, _): `code MY_CODE`"
    if at.kind == "STRING" and at.after("RULE"):
        return (
            "a rule id is a bare name (letters, digits, _); a string after it describes "
            'the rule: `rule my_rule "what it does"`'
        )
    if word == "(" and at.after(*_REASON_ACTIONS):
        return f'no parentheses: the reason follows the action, `{at.before[-1]} "reason"`'
    if word == "(" and len(at.before) == 2 and at.before[0].type == "DOT":
        name = str(at.before[1])
        if name in _TEXT_OPERATORS or name in _OPERATOR_SYNONYMS:
            operator = _OPERATOR_SYNONYMS.get(name, name)
            return f"`{operator}` is an operator, not a method: `A {operator} B`"
        return f"functions are called with the value inside: `{name}(x)`, not `x.{name}()`"
    if word == "-" and len(at.before) == 2 and at.before[0].type in ("RULE", "CODE"):
        written = str(at.before[1]) + re.match(r"[\w-]*", at.rest).group()  # type: ignore[union-attr]
        what = "a rule id" if at.before[0].type == "RULE" else "a code"
        return f"{what} is letters, digits and _: `{at.before[0]} {written.replace('-', '_')}`"
    if word == "=" and at.before and at.before[-1].type in _TAKES_VALUE:
        return f"no `=` after `{at.before[-1]}`: `{at.before[-1]} VALUE`"
    if at.kind == "INT" and at.after(*_TAKES_DURATION):
        return "a duration is one word, a number and its unit: `30s`, `5m`, `1h`, `7d` (or ms)"
    if at.after("PRIORITY"):
        return "a priority is an integer (lower runs first): `priority 10`"
    if at.kind == "STRING" and at.after("STRING") and at.before[0].type in _REASON_ACTIONS:
        return f'an action has one reason: join them, `{at.before[0]} "..."`'
    if len(at.before) >= 1 and at.before[-1].type == "NAME" and str(at.before[-1]) in _CLAUSES:
        return (
            f"`{at.before[-1]}` was read as a hook name: name the hook after `on` "
            f"(`on generation_pre_call {at.before[-1]} ...`)"
        )
    if at.kind == "STRING" and at.after("NAME") and str(at.before[-1]) == "with":
        return (
            "say what to redact before `with`: `redact PATH /pattern/ with "
            f"{word}`, or a detector, `redact PATH pii with {word}`"
        )
    if word == "," and at.expected == {")"}:
        return 'a list is written in brackets: `["a", "b"]`'
    if (
        "expression" in at.groups
        and at.after("AND", "OR")
        and word in ("<", ">", "<=", ">=", "==", "!=")
    ):
        return f"say what to compare again: `x > 3 {at.before[-1]} x {word} 10`"
    if word in (":", "{") and ("action" in at.groups or "clause" in at.groups):
        return (
            "a rule has no `:` or braces: the actions follow the conditions, "
            "`on HOOK when COND block`"
        )
    return None


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
