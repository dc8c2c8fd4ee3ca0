"""Parse a file again after an edit, reusing the AST of every item the edit left alone.

An editor sends the whole buffer on each keystroke; in a file of 1000 rules that is
1000 items parsed again for one changed. The file is cut into the pieces the parser
itself parses one by one (memo.py: the text between lines that start with `rule`,
`let` or `on`), and a piece whose text is unchanged keeps its items. Only the pieces
between the unchanged head and the unchanged tail of the file are parsed again.

A kept piece may have moved (the edit before it changed the text's length) and its
spans name the previous `SourceFile`; its span objects are moved to the new file in
place, as a span is only an offset pair and copying every node of 1000 rules would
cost as much as parsing them. So the spans of a previous result are valid only until
the next `update` of the same file: a caller uses a result before asking for the next
(the language server converts diagnostics under its workspace lock).

Exactness: a piece's parse is the one `parse` makes of it in the whole file (same
positions, same builder), and `parse` joins the pieces' parses whenever every piece
parses. When a piece does not parse (a syntax error being typed), the whole file goes
through `parse`, whose error recovery needs the whole text, and nothing is kept until
the file parses again piece by piece.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from lark import Tree
from lark.exceptions import UnexpectedInput

from ..diagnostics import Diagnostic
from ..source import SourceFile, Span
from . import ast
from .memo import _ITEM_START, ItemParser, PieceBuilder
from .parser import MAX_FILE_CHARS, _build_items, get_parser, parse

Parsed = tuple[ast.Module, list[Diagnostic]]


@dataclasses.dataclass
class _Piece:
    start: int
    text: str
    items: tuple[ast.Item, ...]
    diags: list[Diagnostic]
    spans: list[Span]  # every span object the items and diagnostics hold, once each


class IncrementalParser:
    """One file's parse, kept between edits."""

    def __init__(self) -> None:
        self.pieces: list[_Piece] | None = None  # None: the last parse was a whole one
        self.reused = 0  # pieces kept by the last update (what a test and a benchmark read)

    def update(self, file: SourceFile) -> Parsed:
        text = file.text
        self.reused = 0
        if len(text) > MAX_FILE_CHARS:
            self.pieces = None
            return parse(file)
        bounds = [0, *(m.start() for m in _ITEM_START.finditer(text) if m.start() > 0)]
        ends = [*bounds[1:], len(text)]
        new = [text[s:e] for s, e in zip(bounds, ends, strict=True)]
        old = self.pieces or []
        head = 0
        while head < min(len(old), len(new)) and old[head].text == new[head]:
            head += 1
        tail = 0
        while tail < min(len(old), len(new)) - head and old[-1 - tail].text == new[-1 - tail]:
            tail += 1
        pieces: list[_Piece] = []
        items = ItemParser(get_parser(), file)
        for k, (start, end) in enumerate(zip(bounds, ends, strict=True)):
            if k < head or k >= len(new) - tail:
                kept = old[k] if k < head else old[len(old) - (len(new) - k)]
                _move(kept, file, start)
                pieces.append(kept)
                continue
            parsed = _parse_piece(items, file, start, end)
            if parsed is None:
                self.pieces = None
                return parse(file)
            pieces.append(parsed)
        self.pieces = pieces
        self.reused = head + tail
        found = tuple(item for piece in pieces for item in piece.items)
        return ast.Module(file, found), [d for piece in pieces for d in piece.diags]


def _parse_piece(parser: ItemParser, file: SourceFile, start: int, end: int) -> _Piece | None:
    try:
        piece = parser.parse(start, end)
    except UnexpectedInput:
        return None
    diags: list[Diagnostic] = []
    if isinstance(piece, Tree):
        built = tuple(_build_items(piece, file, diags))
    else:
        shaped = PieceBuilder(file)
        built = shaped.build(*piece)
        diags.extend(shaped.diagnostics)
    spans: dict[int, Span] = {}
    for node in (*built, *diags):
        for span in _spans(node):
            spans.setdefault(id(span), span)
    return _Piece(start, file.text[start:end], built, diags, list(spans.values()))


def _move(piece: _Piece, file: SourceFile, start: int) -> None:
    """The piece's spans into `file`, where the piece now starts at `start`."""
    delta = start - piece.start
    setattr_ = object.__setattr__  # spans are frozen for everyone else
    for span in piece.spans:
        setattr_(span, "file", file)
        if delta and (span.start or span.end):  # (0, 0): a node without a position
            setattr_(span, "start", span.start + delta)
            setattr_(span, "end", span.end + delta)
    piece.start = start


_FIELDS: dict[type, tuple[str, ...]] = {}


def _spans(value: Any) -> Iterator[Span]:
    """Every Span inside an AST node or diagnostic (nested nodes, tuples)."""
    todo = [value]
    while todo:
        current = todo.pop()
        if isinstance(current, Span):
            yield current
        elif isinstance(current, tuple | list):
            todo.extend(current)
        elif dataclasses.is_dataclass(current) and not isinstance(current, type):
            kind = type(current)
            names = _FIELDS.get(kind)
            if names is None:
                names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(current))
            todo.extend(getattr(current, name) for name in names)
