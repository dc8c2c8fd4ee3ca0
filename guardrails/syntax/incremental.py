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
parses. When a piece does not parse (a syntax error being typed), `parse` recovers
over the whole text, which in a large file costs a second or more; `_recover` does
what it does from the piece before the error instead (why that is the same, there).
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
from .errors import to_diagnostic
from .memo import _ITEM_START, ItemParser, PieceBuilder
from .parser import (
    _MAX_SYNTAX_ERRORS,
    MAX_FILE_CHARS,
    _blank,
    _build_items,
    _next_line,
    _parse_quietly,
    get_parser,
    parse,
)

Parsed = tuple[ast.Module, list[Diagnostic]]


@dataclasses.dataclass
class _Piece:
    start: int
    text: str
    items: tuple[ast.Item, ...] | None  # None: the piece does not parse on its own
    diags: list[Diagnostic]
    spans: list[Span]  # every span object the items and diagnostics hold, once each


class IncrementalParser:
    """One file's parse, kept between edits."""

    def __init__(self) -> None:
        self.pieces: list[_Piece] | None = None  # None: nothing kept
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
            else:
                pieces.append(_parse_piece(items, file, start, end))
        self.pieces = pieces
        self.reused = head + tail
        if all(piece.items is not None for piece in pieces):
            found = tuple(item for piece in pieces for item in piece.items or ())
            return ast.Module(file, found), [d for piece in pieces for d in piece.diags]
        return _recover(file, pieces)


def _recover(file: SourceFile, pieces: list[_Piece]) -> Parsed:
    """`parse`'s error recovery, with the pieces' own parses where they give the same.

    `parse` parses from `pos` to the end of the file, and on an error salvages the
    items before the failing one and resumes at the next item after the error's line.
    The parse from `pos` runs without error through the pieces that parse alone (their
    parses joined are its parse, as memo.py has it) and enters the first failing piece
    in the state it would enter it from the piece before (an LALR state is fixed by
    the item being read, the items before it only sit below it on the stack). So it
    is parsed here from the piece before the failing one, with the same error, and
    the pieces before that are taken as parsed. The error's message reads the state
    stack (the same above its bottom) and the last two tokens taken (at least one from
    the failing item, at most one from the item before, kept for that). Only a salvage
    that would need a piece that does not parse alone is parsed as `parse` does it.
    tests/test_lsp_incremental.py compares both over random edits of rules/.
    """
    text, lark = file.text, get_parser()
    at = {piece.start: i for i, piece in enumerate(pieces)}
    items: list[ast.Item] = []
    diags: list[Diagnostic] = []
    pos = 0
    while pos <= len(text):
        i = at.get(pos)
        if i is None:  # never: a resume point is an item's start, so a piece's
            return parse(file)
        k = next((j for j in range(i, len(pieces)) if pieces[j].items is None), None)
        if k is None:
            _join(pieces[i:], items, diags)
            break
        base = pieces[k - 1].start if k > i else pos
        try:
            tree = lark.parse(_blank(text, base, len(text)))
        except UnexpectedInput as err:
            diag = to_diagnostic(err, file, lark)
            diags.append(diag)
            err_pos = diag.span.start
            before = [m.start() for m in _ITEM_START.finditer(text, pos, err_pos + 1)]
            if before and before[-1] > pos:
                upto = at.get(before[-1])
                region = pieces[i:upto] if upto is not None else []
                if upto is not None and all(p.items is not None for p in region):
                    _join(region, items, diags)
                else:
                    items.extend(_parse_quietly(lark, file, pos, before[-1], diags))
            nxt = _ITEM_START.search(text, _next_line(text, err_pos))
            if nxt is None or len(diags) >= _MAX_SYNTAX_ERRORS:
                break
            pos = nxt.start()
            continue
        _join(pieces[i : max(i, k - 1)], items, diags)
        items.extend(_build_items(tree, file, diags))
        break
    return ast.Module(file, tuple(items)), diags


def _join(pieces: list[_Piece], items: list[ast.Item], diags: list[Diagnostic]) -> None:
    for piece in pieces:
        items.extend(piece.items or ())
        diags.extend(piece.diags)


def _parse_piece(parser: ItemParser, file: SourceFile, start: int, end: int) -> _Piece:
    """The piece parsed alone; its `items` None when it does not parse so."""
    text = file.text[start:end]
    try:
        piece = parser.parse(start, end)
    except UnexpectedInput:
        return _Piece(start, text, None, [], [])
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
    return _Piece(start, text, built, diags, list(spans.values()))


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
