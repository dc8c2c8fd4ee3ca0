"""The comments of a rules file, for tools that lay the text out again.

The grammar ignores comments, so the AST has none, and Lark's lexer drops an ignored
token without a trace unless a callback is built into the parser, where it could only
report into state that every caller shares. So this reads the token stream the
parser's own contextual lexer produces (which knows a `#` inside a string or a regex
for what it is) and takes the comments from the gaps between tokens: a gap holds only
what the grammar ignores, whitespace and comments, so each `#` in a gap starts a
comment that runs to the end of its line. Every call lexes with state of its own; the
shared parser is only read, so threads can call this at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .parser import get_parser


@dataclass(frozen=True, slots=True)
class Comment:
    line: int  # 1-based
    text: str  # from the `#` to the end of its line, trailing whitespace removed


def comments(text: str) -> list[Comment]:
    """Every comment in `text`, in order. `text` must parse (lark raises otherwise)."""
    found: list[Comment] = []
    lines = _Lines(text)
    end = 0
    for token in get_parser().parse_interactive(text).iter_parse():
        _comments_between(text, end, token.start_pos or 0, lines, found)
        end = token.end_pos or end
    _comments_between(text, end, len(text), lines, found)
    return found


def _comments_between(
    text: str, start: int, stop: int, lines: _Lines, found: list[Comment]
) -> None:
    pos = text.find("#", start, stop)
    while pos >= 0:
        newline = text.find("\n", pos, stop)
        close = stop if newline < 0 else newline
        found.append(Comment(lines.at(pos), text[pos:close].rstrip()))
        pos = text.find("#", close, stop)


class _Lines:
    """Line numbers of increasing offsets, counted once through the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line
