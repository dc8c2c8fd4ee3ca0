"""Lark exceptions -> diagnostics in words a rule author knows.

Terminal names (`LPAR`, `__ANON_0`) never reach the user: each expected terminal is
described by what it matches, and whole groups collapse to what they are: "an
expression", "an operator", "an action (block, warn, ...)", "another clause". What is
expected is worked out by running the parser's reductions for each candidate
(`_accepts`), since an LALR state lists every terminal that may follow its item in
any context. A misspelled keyword gets a did-you-mean; a word from another policy
language where an action belongs (`deny`, `allow`) gets what to write instead.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr
from lark.parsers.lalr_analysis import Shift
from lark.parsers.lalr_parser_state import ParserState

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile
from .hints import At, list_after_pattern_path, token_hint

_DESCRIPTIONS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "REGEX": "a regex literal",
    "$END": "end of file",
    "DURATION": "a duration (30s, 5m, 1h)",
}
_EXPR_STARTERS = {"NAME", "INT", "STRING", "REGEX"}
_ACTIONS = {"block", "warn", "set", "redact", "continue"}
# the grammar's operator rules; their spellings are read from it (`_operators`), so a
# new operator is one grammar line and no edit here
_OPERATOR_RULES = frozenset({"comp_op", "add_op", "mul_op"})
_CONNECTIVES = frozenset({".", "[", "and", "or", "not"})
# groups of keywords named by what they are, read from the grammar's rules (`_group`);
# at most this many of a group are spelled out
_GROUPS = (("_action", "an action"), ("_clause", "another clause"), ("_item", "a new item"))
_SHOWN = 4
_FIRST = ("when", "unless", "rule", "on", "let")  # shown first in their groups


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


@functools.lru_cache(maxsize=16)
def _group(parser: Lark, origin: str) -> tuple[str, ...]:
    """The terminals that can start `origin` (`_action`: BLOCK, WARN, ...), in the
    grammar's order."""
    found: dict[str, None] = {}
    todo, seen = [origin], set()
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for rule in parser.rules:
            if rule.origin.name == name and rule.expansion:
                first = rule.expansion[0].name
                if first.isupper():
                    found[first] = None
                else:
                    todo.append(first)
    return tuple(found)


def describe_expected(parser: Lark, expected: Iterable[str]) -> list[str]:
    names = set(expected)
    words: list[str] = []
    if names >= _EXPR_STARTERS:
        words.append("an expression")
        names -= _EXPR_STARTERS | {"FLOAT", "LPAR", "LSQB", "LBRACE", "MINUS", "NOT"}
        names -= {"TRUE", "FALSE", "NULL", "ANY", "ALL", "COUNT", "FILTER"}  # quantifiers
    literals = _keyword_values(parser, names)
    spellings = _operators(parser)
    operators = {n for n in names if literals.get(n) in spellings}
    if len(operators) > 3:
        words.append("an operator")
        names -= operators
    for origin, what in _GROUPS:
        members = [n for n in _group(parser, origin) if n in names]
        members.sort(key=lambda n: _FIRST.index(literals[n]) if literals[n] in _FIRST else 9)
        if len(members) > 2:
            shown = ", ".join(literals[n] for n in members[:_SHOWN])
            more = ", ..." if len(members) > _SHOWN else ""
            words.append(f"{what} ({shown}{more})")
            names -= set(members)
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
    return ", ".join(words[:-1]) + ", or " + words[-1]


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


def _state(err: UnexpectedToken) -> ParserState[Any] | None:
    """The parser's state at the error (the lexer's errors carry it as `state`)."""
    state = err.interactive_parser.parser_state if err.interactive_parser else err.state
    return state if isinstance(state, ParserState) else None


def _accepts(state: ParserState[Any] | None, candidates: Iterable[str]) -> set[str]:
    """The candidates the parser can take from `state`: each fed to a copy of the
    state stack, through every reduction it causes, until it is shifted."""
    if state is None:
        return set(candidates)
    table = state.parse_conf.states
    end_state = state.parse_conf.end_state
    out = set()
    for terminal in candidates:
        stack = list(state.state_stack)
        while True:
            step = table[stack[-1]].get(terminal)
            if step is None:
                break
            action, arg = step
            if action is Shift:
                out.add(terminal)
                break
            if arg.expansion:
                del stack[-len(arg.expansion) :]
            stack.append(table[stack[-1]][arg.origin.name][1])
            if stack[-1] == end_state:
                out.add(terminal)
                break
    return out


def _expected(err: UnexpectedToken, state: ParserState[Any] | None) -> set[str]:
    if state is None:
        return set(err.expected)
    candidates = {t for t in state.parse_conf.states[state.position] if t.isupper()}
    return _accepts(state, candidates | set(err.expected)) or set(err.expected)


def _unexpected_token(err: UnexpectedToken, file: SourceFile, parser: Lark) -> Diagnostic:
    tok = err.token
    state = _state(err)
    expected_names = _expected(err, state)
    literals = _keyword_values(parser, expected_names)
    expected_words = set(literals.values())
    at_end = tok.type == "$END"
    if at_end:
        end = len(file.text.rstrip())
        span = file.span(end, end)
    else:
        start = tok.start_pos or 0
        span = file.span(start, tok.end_pos if tok.end_pos is not None else start + len(tok))
    got = "end of file" if at_end else _show(str(tok))
    if str(tok) == "/" and "REGEX" in expected_names:
        return Diagnostic(
            "GR0103",
            Severity.ERROR,
            "unterminated regex literal",
            file.span(span.start, _line_end(file.text, span.start)),
            hint="close the regex with / on the same line; write \\/ for a literal slash",
        )
    if str(tok) == "=" and "=" not in expected_words and not _after_keyword(state):
        matching = file.text.startswith("=~", span.start)
        hint = "use `matches` to test a regex" if matching else "use '==' to compare"
        return Diagnostic("GR0100", Severity.ERROR, "unexpected '='", span, hint=hint)
    listed = list_after_pattern_path(state.value_stack if state else [], file, span)
    if listed is not None:
        return listed
    item_starts = set(_keyword_values(parser, _group(parser, "_item")).values())
    if expected_words >= _ACTIONS and (at_end or str(tok) in item_starts):
        return _no_action(state, file, got, span)
    values = state.value_stack if state is not None else []
    rest = file.text[span.start : _line_end(file.text, span.start)]
    at = At(str(tok), tok.type, frozenset(expected_words), _groups(parser, expected_names),
            _last_tokens(values), rest)  # fmt: skip
    found = token_hint(at)
    expected = _join(describe_expected(parser, expected_names))
    code = "GR0101" if at_end else "GR0100"
    return Diagnostic(code, Severity.ERROR, f"unexpected {got}: expected {expected}", span, found)


def _after_keyword(state: ParserState[Any] | None) -> bool:
    """`code=X`: an `=` after a clause or action keyword, which is no comparison."""
    last = _last_tokens(state.value_stack, 1) if state is not None else ()
    return bool(last) and last[0].type not in ("NAME", "STRING", "INT", "FLOAT", "RPAR", "RSQB")


def _groups(parser: Lark, names: set[str]) -> frozenset[str]:
    """What kinds of thing the parser could take (`At.groups`)."""
    found = {what for what, origin in _KINDS if sum(n in names for n in _group(parser, origin)) > 2}
    literals = _keyword_values(parser, names).values()
    if sum(1 for w in literals if w in _operators(parser)) > 3:
        found.add("operator")
    if names >= _EXPR_STARTERS:
        found.add("expression")
    if "STRING" in names:
        found.add("string")
    return frozenset(found)


_KINDS = (("action", "_action"), ("clause", "_clause"), ("item", "_item"))


def _last_tokens(values: list[Any], count: int = 2) -> tuple[Token, ...]:
    """The last `count` tokens the parser took, nearest last."""
    found: list[Token] = []
    todo = list(values)
    while todo and len(found) < count:
        value = todo.pop()
        if isinstance(value, Token):
            found.append(value)
        elif isinstance(value, Tree):
            todo.extend(value.children)
        elif isinstance(value, list):
            todo.extend(value)
    return tuple(reversed(found))


def _no_action(state: ParserState[Any] | None, file: SourceFile, got: str, at: Any) -> Diagnostic:
    """A rule ran out before its action: the next item (or the end of the file)
    arrived instead. Reported at the rule that has no action, at the end of its last
    clause (where the action goes), not at the item after it."""
    values = state.value_stack if state is not None else []
    name = next(
        (
            str(values[i + 1])
            for i in range(len(values) - 2, -1, -1)
            if isinstance(values[i], Token) and values[i].type == "RULE"
        ),
        None,
    )
    end = _end_of(values[-1]) if values else None
    span = at if end is None else file.span(end, end)
    hint = 'end every rule with at least one action, e.g. `block "reason"`'
    last = _last_tokens(values, 1)
    if last and last[0].type == "NAME" and str(last[0]) in _ACTIONS:
        joint = (file.text[: last[0].start_pos].split() or [""])[-1]
        hint = (
            f"`{last[0]}` was read as a name, the last operand of the condition "
            f"(`... {joint} {last[0]}`): finish the condition, then `{last[0]}`"
        )
    which = f"rule '{name}'" if name else "this rule"
    before = "the end of the file" if got == "end of file" else f"{got} on line {at.line}"
    return Diagnostic(
        "GR0106",
        Severity.ERROR,
        f"{which} has no action: expected block, warn, set or redact here, before {before}",
        span,
        hint=hint,
    )


def _end_of(value: Any) -> int | None:
    """Where a parsed value (a token, or a tree of them) ends in the text."""
    while isinstance(value, Tree):
        if not value.meta.empty:
            return int(value.meta.end_pos)
        if not value.children:
            return None
        value = next((c for c in reversed(value.children) if c is not None), None)
    if isinstance(value, Token) and value.end_pos is not None:
        return value.end_pos
    if isinstance(value, list) and value:
        return _end_of(value[-1])
    return None


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
    elif ch == "~":
        hint = "use `matches` to test a regex: `prompt matches /x/`"
    elif ch == ";":
        hint = "rules need no separator: a rule ends with its last action"
    return Diagnostic(
        "GR0102", Severity.ERROR, f"unexpected character {shown}", file.span(pos, pos + 1), hint
    )


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end
