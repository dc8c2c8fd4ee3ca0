"""A rule's literal key (runtime/prefilter.py), and RE2's matcher for many constants.

The key lists the text tests the rule's condition cannot be true without: the leftmost
conjunct when it is such a test, or every branch of an `or` there when each is. Only
the leftmost conjunct counts, since any later one runs after tests that may raise (a
NaN in `x == 1`, a list where text was expected), and a rule that raises must run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re2

from ..check import ir
from ..runtime.prefilter import FUNCTIONS, Finder, LiteralKey, LiteralTest, use_literal_finder

_OPERATORS = ("contains", "startswith", "endswith")
_LATIN1 = re2.Options.Encoding.LATIN1  # type: ignore[attr-defined]


def literal_key_of(rule: ir.CheckedRule) -> LiteralKey | None:
    """The tests one of which must hold for `rule` to fire, or None (no such set)."""
    tests = _tests(rule.condition)
    return tuple(dict.fromkeys(tests)) if tests else None


def _tests(node: ir.IR | None) -> list[LiteralTest] | None:
    if not isinstance(node, ir.Op):
        return None
    if node.op == "and":  # false when its first part is false (and that never raises)
        return _tests(node.args[0])
    if node.op == "or":  # false when every part is
        found: list[LiteralTest] = []
        for arg in node.args:
            part = _tests(arg)
            if part is None:
                return None
            found += part
        return found
    if len(node.args) != 2:
        return None
    left, right = node.args
    if node.op == "in":  # `"w" in prompt`: the substring form of contains
        left, right, op = right, left, "contains"
    elif node.op in _OPERATORS:
        op = node.op
    else:
        return None
    if not isinstance(right, ir.Const) or type(right.value) is not str:
        return None
    subject = _subject(left)
    return [(*subject, op, right.value)] if subject is not None else None


def _subject(node: ir.IR) -> tuple[tuple[ir.PathKey, ...], tuple[str, ...]] | None:
    """(fact path, functions applied innermost first) of `lower(trim(tool.args.q))`."""
    functions: list[str] = []
    while isinstance(node, ir.Op) and node.op in FUNCTIONS and len(node.args) == 1:
        functions.append(node.op)
        node = node.args[0]
    if not isinstance(node, ir.FactRef) or node.derived is not None or not node.path:
        return None
    return node.path, tuple(reversed(functions))


def _escaped(literal: str) -> bytes:
    """The constant as an RE2 Latin-1 pattern: its UTF-8 bytes (lone surrogates too,
    which untrusted text can carry), each non-alphanumeric one hex-escaped."""
    return b"".join(
        bytes([b]) if b < 0x80 and chr(b).isalnum() else b"\\x{%02x}" % b
        for b in literal.encode("utf-8", "surrogatepass")
    )


def re2_finder(literals: Sequence[str]) -> Finder:
    """One RE2 set of every constant, run over the text's bytes in one pass.

    Pattern 0 is empty and matches every text, so an empty answer can only mean RE2
    gave up (its automaton ran out of memory), and the caller then runs every rule.
    UTF-8 is self-synchronising, so a constant's bytes occur in the text's bytes only
    where the constant occurs in the text."""
    options: Any = re2.Options()
    options.encoding = _LATIN1
    options.log_errors = False
    size = sum(len(lit) for lit in literals)
    options.max_mem = max(8 << 20, min(256 << 20, size * 2048))
    found: Any = re2.Set.SearchSet(options)
    found.Add(b"")
    for literal in literals:
        found.Add(_escaped(literal))
    found.Compile()
    match = found._set.Match  # the wrapper only encodes str, and we pass bytes

    def find(text: str) -> list[int] | None:
        hits = match(text.encode("utf-8", "surrogatepass"))
        if not hits:
            return None
        return [i - 1 for i in hits if i]

    return find


use_literal_finder(re2_finder)
