"""A forgiving token reading of a rules text, and LSP positions.

An editor asks about a text that is mostly half-typed: the parser fails on it, and
even the tokens Lark's lexer produces stop at the first character it cannot place.
So the editor features read the text with this small lexer instead, which never fails:
an unterminated string runs to the end of its line, an unknown character is a token of
its own. It splits the text as the Pygments lexer does (a `/.../` on one line is a
regex), which is what the author sees highlighted.

Positions in the protocol are 0-based lines and UTF-16 code units; offsets here are
Python string indexes (code points). The two conversions below are the only place the
features compute columns.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*\\?(?:"|(?=\n)|$)|'(?:[^'\\\n]|\\.)*\\?(?:'|(?=\n)|$))
  | (?P<regex>/(?:\\.|[^/\\\n])+/[A-Za-z]*)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?:ms|s|m|h|d)?(?![A-Za-z0-9_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|[^\sA-Za-z0-9_])
    """,
    re.VERBOSE,
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # comment | string | regex | number | name | op
    text: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "name" and self.text in words


def lex(text: str) -> list[Token]:
    """Every token of `text`, comments included, in order; never raises. Each request
    reads every file of the ruleset, most unchanged since the last one: their tokens
    are kept (keyed by the text itself)."""
    return list(_lex(text))


@functools.lru_cache(maxsize=1024)
def _lex(text: str) -> tuple[Token, ...]:
    out: list[Token] = []
    pos, size = 0, len(text)
    while pos < size:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
            continue
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None or m.end() == pos:  # not expected: `op` takes
            out.append(Token("op", text[pos], pos, pos + 1))  # any one character
            pos += 1
            continue
        out.append(Token(m.lastgroup, m.group(), pos, m.end()))
        pos = m.end()
    return tuple(out)


def offset_at(text: str, line: int, character: int) -> int:
    """The string index of a 0-based line and UTF-16 character (clamped into the text)."""
    start = 0
    for _ in range(max(line, 0)):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    units, pos = 0, start
    while pos < end and units < character:
        units += 2 if ord(text[pos]) > 0xFFFF else 1
        pos += 1
    return pos


def position_of(text: str, offset: int) -> tuple[int, int]:
    """The 0-based line and UTF-16 character of a string index."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text[start:offset])
    return line, units


@dataclass(frozen=True, slots=True)
class Range:
    """An LSP range: 0-based (line, UTF-16 character) pairs, end exclusive."""

    start: tuple[int, int]
    end: tuple[int, int]

    @classmethod
    def of(cls, text: str, start: int, end: int) -> Range:
        return cls(position_of(text, start), position_of(text, end))
