"""Parse a file item by item, and parse each shape of item once.

Large rulesets are mostly written from templates: 10,000 rules that differ only in
names, strings and numbers. An LALR parse depends only on the sequence of token
*types*, so once one item has been parsed, another item whose tokens have the same
types in the same parser states has the same tree with its own tokens in it. For such
an item we run only Lark's contextual lexer, in the parser state the first item's
parse was in at each token (the state a real parse of this item would be in, as the
types before it are the same), check that each token has the first item's type and
that nothing follows, and clone the first item's tree around the new tokens, with
positions taken from the same tokens Lark's own would come from. Anything that does
not match exactly is parsed by Lark in full. A cheap key (the item's text with its
literals and non-keyword names blanked) only chooses which earlier shape to try.

Items are the text between lines that start with `rule`, `let` or `on`. Parsing them
one by one keeps one item's tree alive at a time instead of the whole file's. It is
exact whenever every piece parses: the grammar is LALR, so unambiguous, and the
pieces' parses joined are a parse of the whole. When a piece fails, the caller
parses the whole file as before, with its error recovery (resuming at the failing
piece would salvage more items around an error than that recovery does, and so give
other diagnostics).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput
from lark.lexer import LexerState, LexerThread, LineCounter
from lark.utils import TextSlice

from ..diagnostics import Diagnostic
from ..source import SourceFile
from . import ast
from .build import AstBuilder

_ITEM_START = re.compile(r"^(?:rule|let|on)\b", re.MULTILINE)
_WORD = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*|[0-9]+|[A-Za-z_]\w*|\s+')
_SHAPES_PER_KEY = 4
# parser.MAX_DEPTH is 100: a template is well below it, so its pieces need no check
_MAX_DEPTH = 90

# `Token(...)` without its keyword-deprecation shim: one call less per token
_new_token: Any = Token._future_new
Template = tuple[Any, tuple[int, int] | None, tuple[Any, ...]]
Piece = Tree[Token] | tuple[Template, list[Token]]


class _At:
    """The parser state the contextual lexer reads (`.position`), set by hand."""

    __slots__ = ("position",)

    def __init__(self) -> None:
        self.position = 0


class _Shape:
    """One parsed item: its token types, the parser state each was lexed in, and its
    tree with token indices where the tokens were."""

    __slots__ = ("end_state", "states", "template", "types")

    def __init__(self, types: list[str], states: list[int], end_state: int, template: Template):
        self.types, self.states, self.end_state, self.template = types, states, end_state, template


class ItemParser:
    def __init__(self, parser: Lark, file: SourceFile) -> None:
        frontend = parser.parser
        self.frontend = frontend
        self.lexers = frontend.lexer.lexers
        self.file = file
        self.shapes: dict[str, list[_Shape]] = {}
        self.last: _Shape | None = None  # templates repeat one shape: try it first
        self.scanners: dict[int, tuple[Any, frozenset[str], dict[str, Any]]] = {}
        self.failed_at: int | None = None
        self.keywords = frozenset(
            t.pattern.value
            for t in parser.terminals
            if t.pattern.type == "str" and t.pattern.value.isidentifier()
        )

    def pieces(self) -> Iterator[Piece]:
        """Each piece of the file, in order, up to the first that does not parse
        (Lark's tree, or a shape's template and this piece's tokens); where that one
        starts is then `failed_at`. One at a time: the caller builds each into AST
        before the next is parsed."""
        text = self.file.text
        bounds = [m.start() for m in _ITEM_START.finditer(text) if m.start() > 0]
        for start, end in zip([0, *bounds], [*bounds, len(text)], strict=True):
            try:
                piece = self.parse(start, end)
            except UnexpectedInput:
                self.failed_at = start
                return
            yield piece

    def _state(self, start: int, end: int) -> LexerState:
        """A lexer over text[start:end] with positions in the whole file."""
        counter = LineCounter("\n")  # type: ignore[no-untyped-call]
        starts = self.file._line_starts
        line = bisect.bisect_right(starts, start) - 1
        counter.char_pos, counter.line = start, line + 1
        counter.line_start_pos = starts[line]
        counter.column = start - starts[line] + 1
        return LexerState(TextSlice(self.file.text, start, end), counter)

    def _key(self, start: int, end: int) -> str:
        out = []
        for m in _WORD.finditer(self.file.text, start, end):
            word = m.group()
            first = word[0]
            if first in "\"'":
                out.append('"')
            elif first == "#" or first.isspace():
                out.append(" ")
            elif first.isdigit():
                out.append("0")
            else:
                out.append(word if word in self.keywords else "N")
        return "".join(out)

    def parse(self, start: int, end: int) -> Piece:
        if self.last is not None:
            tokens = self._relex(self.last, start, end)
            if tokens is not None:
                return self.last.template, tokens
        key = self._key(start, end)
        candidates = self.shapes.setdefault(key, [])
        for shape in candidates:
            tokens = self._relex(shape, start, end)
            if tokens is not None:
                self.last = shape
                return shape.template, tokens
        interactive = self.frontend.parser.parse_interactive(
            LexerThread(self.frontend.lexer, self._state(start, end)), "start"
        )
        tokens, states = [], []
        for token in interactive.iter_parse():
            tokens.append(token)
            states.append(interactive.parser_state.position)
        end_state = interactive.parser_state.position
        tree: Tree[Token] = interactive.feed_eof(tokens[-1] if tokens else None)
        if len(candidates) < _SHAPES_PER_KEY:
            template = _template(tree, tokens)
            if template is not None:
                self.last = _Shape([t.type for t in tokens], states, end_state, template)
                candidates.append(self.last)
        return tree

    def _relex(self, shape: _Shape, start: int, end: int) -> list[Token] | None:
        """The item's tokens, if they are exactly of the shape's types: each found as
        Lark's `BasicLexer.next_token` finds it (the first of the state's patterns
        that matches, ignored kinds skipped, then the keyword callbacks), without
        the line and column counting no one reads."""
        text, pos, tokens = self.file.text, start, []
        for kind, position in zip(shape.types, shape.states, strict=True):
            mres, ignore, callback = self._scanner(position)
            while True:
                match = None
                for mre in mres:
                    match = mre.match(text, pos, end)
                    if match is not None:
                        break
                if match is None:
                    return None
                if match.lastgroup not in ignore:
                    break
                pos = match.end()
            token = _new_token(
                match.lastgroup, match.group(), pos, None, None, None, None, match.end()
            )
            if token.type in callback:
                token = callback[token.type](token)
            if token.type != kind:
                return None
            tokens.append(token)
            pos = match.end()
        mres, ignore, _ = self._scanner(shape.end_state)
        while pos < end:  # only ignored text may follow
            match = next((m for m in (r.match(text, pos, end) for r in mres) if m), None)
            if match is None or match.lastgroup not in ignore:
                return None
            pos = match.end()
        return tokens

    def _scanner(self, position: int) -> tuple[Any, frozenset[str], dict[str, Any]]:
        found = self.scanners.get(position)
        if found is None:
            lexer = self.lexers[position]
            found = (lexer.scanner._mres, frozenset(lexer.ignore_types), dict(lexer.callback))
            self.scanners[position] = found
        return found


def _template(tree: Tree[Token], tokens: list[Token]) -> Template | None:
    """The tree with token indices for tokens and for the ends of each node's span;
    None when some part cannot be located (then the shape is not reused)."""
    index = {id(t): i for i, t in enumerate(tokens)}
    starts = {t.start_pos: i for i, t in enumerate(tokens)}
    ends = {t.end_pos: i for i, t in enumerate(tokens)}

    def walk(node: Tree[Token], depth: int = 0) -> Template | None:
        if depth > _MAX_DEPTH:
            return None  # too deep to build: build.py reports it, from Lark's own tree
        meta = node.meta
        span = None
        if not meta.empty:
            first, last = starts.get(meta.start_pos), ends.get(meta.end_pos)
            if first is None or last is None:
                return None
            span = (first, last)
        children: list[Any] = []
        for child in node.children:
            if isinstance(child, Tree):
                sub = walk(child, depth + 1)
                if sub is None:
                    return None
                children.append(sub)
            elif isinstance(child, Token):
                at = index.get(id(child))
                if at is None:
                    return None
                children.append(at)
            elif child is None:
                children.append(None)
            else:
                return None
        return (node.data, span, tuple(children))

    return walk(tree)


class _Meta:
    """A node's span, as much of Lark's `Meta` as build.py reads."""

    __slots__ = ("empty", "end_pos", "start_pos")

    def __init__(self, empty: bool, start_pos: int | None = 0, end_pos: int | None = 0) -> None:
        self.empty, self.start_pos, self.end_pos = empty, start_pos, end_pos


_NO_SPAN = _Meta(True)


class PieceBuilder:
    """The AST of pieces parsed by their shape: build.py's builder run over the
    shape's tree with each piece's tokens put in (the tree itself is never made).
    One per file; no closures, so nothing a piece leaves waits for the cyclic GC,
    which loads pause."""

    def __init__(self, file: SourceFile) -> None:
        self.builder = AstBuilder(file)
        self.methods: dict[str, Any] = {}

    def build(self, template: Template, tokens: list[Token]) -> tuple[ast.Item, ...]:
        return self._walk(template, tokens)  # type: ignore[no-any-return]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.builder.diagnostics

    def _walk(self, node: Template, tokens: list[Token]) -> Any:
        data, span, children = node
        built = [
            tokens[c] if type(c) is int else None if c is None else self._walk(c, tokens)
            for c in children
        ]
        meta = (
            _NO_SPAN
            if span is None
            else _Meta(False, tokens[span[0]].start_pos, tokens[span[1]].end_pos)
        )
        method = self.methods.get(data)
        if method is None:
            method = self.methods[data] = getattr(self.builder, data)
        return method(meta, built)
