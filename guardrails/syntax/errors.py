"""Lark exceptions -> diagnostics in words a rule author knows.

Terminal names (`LPAR`, `__ANON_0`) never reach the user: each expected terminal is
described by what it matches, a full set of expression starters collapses to "an
expression", and a misspelled keyword gets a did-you-mean from the expected keywords.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile

_DESCRIPTIONS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "REGEX": "a regex literal",
    "$END": "end of file",
}
_EXPR_STARTERS = {"NAME", "INT", "STRING", "REGEX"}
_ACTIONS = {"block", "warn", "set", "redact", "continue"}
# the grammar's operator rules; their spellings are read from it (`_operators`), so a
# new operator is one grammar line and no edit here
_OPERATOR_RULES = frozenset({"comp_op", "add_op", "mul_op"})
_CONNECTIVES = frozenset({".", "[", "and", "or", "not"})
_ITEM_STARTS = {"rule", "on", "let"}


def _keyword_values(parser: Lark, names: Iterable[str]) -> dict[str, str]:
    """Terminal name -> literal text, for terminals defined by a plain string."""
    out: dict[str, str] = {}
    by_name = {t.name: t for t in parser.terminals}
    for name in names:
        term = by_name.get(name)
        if term is not None and isinstance(term.pattern, PatternStr):
            out[name] = term.pattern.value
    return out


@functools.lru_cache(maxsize=4)
def _operators(parser: Lark) -> frozenset[str]:
    names = {
        sym.name
        for rule in parser.rules
        if rule.origin.name in _OPERATOR_RULES
        for sym in rule.expansion
    }
    return frozenset(_keyword_values(parser, names).values()) | _CONNECTIVES


def describe_expected(parser: Lark, expected: Iterable[str]) -> list[str]:
    names = set(expected)
    words: list[str] = []
    if names >= _EXPR_STARTERS:
        words.append("an expression")
        names -= _EXPR_STARTERS | {"FLOAT", "LPAR", "LSQB", "MINUS", "NOT", "TRUE", "FALSE"}
        names -= {"NULL"}
    literals = _keyword_values(parser, names)
    spellings = _operators(parser)
    operators = {n for n in names if literals.get(n) in spellings}
    if len(operators) > 3:
        words.append("an operator")
        names -= operators
    for name in sorted(names, key=lambda n: (n not in _DESCRIPTIONS, literals.get(n, n))):
        if name in _DESCRIPTIONS:
            words.append(_DESCRIPTIONS[name])
        elif name in literals:
            words.append(f"'{literals[name]}'")
        else:
            words.append(name.lower())
    return words


def _join(words: list[str]) -> str:
    if len(words) <= 2:
        return " or ".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _show(token_text: str) -> str:
    text = token_text if len(token_text) <= 30 else token_text[:27] + "..."
    return f"'{text}'"


def to_diagnostic(err: UnexpectedInput, file: SourceFile, parser: Lark) -> Diagnostic:
    if isinstance(err, UnexpectedToken):
        return _unexpected_token(err, file, parser)
    if isinstance(err, UnexpectedCharacters):
        return _unexpected_char(err, file)
    pos = getattr(err, "pos_in_stream", None) or 0
    return Diagnostic("GR0100", Severity.ERROR, "syntax error", file.span(pos, pos + 1))


def _unexpected_token(err: UnexpectedToken, file: SourceFile, parser: Lark) -> Diagnostic:
    tok = err.token
    literals = _keyword_values(parser, err.expected)
    expected_words = set(literals.values())
    at_end = tok.type == "$END"
    if at_end:
        end = len(file.text.rstrip())
        span = file.span(end, end)
    else:
        start = tok.start_pos or 0
        span = file.span(start, tok.end_pos if tok.end_pos is not None else start + len(tok))
    got = "end of file" if at_end else _show(str(tok))
    if str(tok) == "/" and "REGEX" in err.expected:
        return Diagnostic(
            "GR0103",
            Severity.ERROR,
            "unterminated regex literal",
            file.span(span.start, _line_end(file.text, span.start)),
            hint="close the regex with / on the same line; write \\/ for a literal slash",
        )
    if str(tok) == "=" and "=" not in expected_words:
        return Diagnostic(
            "GR0100", Severity.ERROR, "unexpected '='", span, hint="use '==' to compare"
        )

    # A rule ran out before its action: the next item (or EOF) arrived instead.
    if expected_words >= _ACTIONS and (at_end or str(tok) in _ITEM_STARTS):
        return Diagnostic(
            "GR0106",
            Severity.ERROR,
            f"rule has no action: expected block, warn, set or redact before {got}",
            span,
            hint='end every rule with at least one action, e.g. `block "reason"`',
        )
    hint = None
    if tok.type == "NAME":
        keywords = sorted(w for w in expected_words if w.isalpha())
        close = difflib.get_close_matches(str(tok), keywords, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif str(tok) in expected_words:
            hint = None
    expected = _join(describe_expected(parser, err.expected))
    code = "GR0101" if at_end else "GR0100"
    return Diagnostic(code, Severity.ERROR, f"unexpected {got}: expected {expected}", span, hint)


def _unexpected_char(err: UnexpectedCharacters, file: SourceFile) -> Diagnostic:
    pos = err.pos_in_stream or 0
    ch = file.text[pos] if pos < len(file.text) else ""
    line_end = _line_end(file.text, pos)
    if ch in "\"'":
        return Diagnostic(
            "GR0103",
            Severity.ERROR,
            "unterminated string",
            file.span(pos, line_end),
            hint=f"close the string with {ch} on the same line",
        )
    if ch == "/" and "REGEX" in (err.allowed or set()):
        return Diagnostic(
            "GR0103",
            Severity.ERROR,
            "unterminated regex literal",
            file.span(pos, line_end),
            hint="close the regex with / on the same line; write \\/ for a literal slash",
        )
    shown = repr(ch) if ch and not ch.isprintable() else f"'{ch}'"
    hint = None
    if ch == "=":
        hint = "use '==' to compare"
    elif ch == "&":
        hint = "use 'and'"
    elif ch == "|":
        hint = "use 'or'"
    elif ch == "!":
        hint = "use 'not' or '!='"
    return Diagnostic(
        "GR0102", Severity.ERROR, f"unexpected character {shown}", file.span(pos, pos + 1), hint
    )


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end
