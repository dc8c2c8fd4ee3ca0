"""Rules text -> AST. The only module that builds a Lark parser (grammar_cache.py
stores and reloads what it built).

The LALR parser is built once, lazily, in strict mode (a grammar conflict is a build
error, never a silent choice). LALR stops at the first syntax error, so to report
more than one per file we resume at the next line that starts an item (`rule`, `let`
or `on` in column 1), blanking the text before it so positions stay exact.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile
from . import ast, grammar_cache
from .build import build
from .errors import to_diagnostic
from .memo import ItemParser, PieceBuilder

_ITEM_START = re.compile(r"^(?:rule|let|on)\b", re.MULTILINE)
_MAX_SYNTAX_ERRORS = 50


def grammar_text() -> str:
    """The grammar shipped in the wheel, or the repository copy in a source checkout."""
    packaged = resources.files("guardrails.syntax").joinpath("rules.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo_copy = Path(__file__).resolve().parents[2] / "grammar" / "rules.lark"
    return repo_copy.read_text(encoding="utf-8")


def fingerprint() -> str:
    """What a parse depends on besides the text: the grammar and the Lark version."""
    return f"{lark.__version__}\0{grammar_text()}"


_OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "lexer": "contextual",
    "strict": True,
    "propagate_positions": True,
    "maybe_placeholders": True,
}


def build_parser(grammar: str) -> Lark:
    """Analyse the grammar (no cache)."""
    return Lark(grammar, **_OPTIONS)


def cached_parser(grammar: str) -> Lark:
    """The parser from the per-user cache, built and cached if the cache cannot serve."""
    key = grammar_cache.cache_key(grammar, _OPTIONS)
    path = grammar_cache.cache_path(key)
    parser = grammar_cache.load(path, key) if path is not None else None
    if parser is None:
        parser = build_parser(grammar)
        if path is not None:
            grammar_cache.save(path, key, parser)
    return parser


@functools.cache
def get_parser() -> Lark:
    return cached_parser(grammar_text())


def _blank(text: str, start: int, end: int) -> str:
    """Text with everything outside [start, end) blanked, newlines kept."""
    head = re.sub(r"[^\n]", " ", text[:start])
    tail = re.sub(r"[^\n]", " ", text[end:])
    return head + text[start:end] + tail


MAX_FILE_CHARS = 5_000_000  # a rules file larger than this is refused, not parsed
MAX_DEPTH = 100  # nesting levels of one item's syntax tree (CPython's own limit is 200)


def _too_deep(tree: Tree[Token]) -> Tree[Token] | None:
    """The first subtree nested deeper than MAX_DEPTH, found without recursion."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    return None


def _build_items(tree: Tree[Token], file: SourceFile, diags: list[Diagnostic]) -> list[ast.Item]:
    """Build the AST of every top-level item that is not nested too deeply."""
    kept: list[Tree[Token] | Token] = []
    for child in tree.children:
        deep = _too_deep(child) if isinstance(child, Tree) else None
        if deep is None:
            kept.append(child)
            continue
        meta = deep.meta
        start = 0 if meta.empty else meta.start_pos
        diags.append(
            Diagnostic(
                "GR0107",
                Severity.ERROR,
                f"expression nested more than {MAX_DEPTH} levels deep",
                file.span(start, start + 1),
                hint="split it with `let` names or into several rules",
            )
        )
    built, build_diags = build(Tree(tree.data, kept, tree.meta), file)
    diags.extend(build_diags)
    return list(built)


def parse(file: SourceFile) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse one file; never raises for bad input."""
    parser = get_parser()
    text = file.text
    items: list[ast.Item] = []
    diags: list[Diagnostic] = []
    if len(text) > MAX_FILE_CHARS:
        diags.append(
            Diagnostic(
                "GR0108",
                Severity.ERROR,
                f"rules file is {len(text):,} characters; the limit is {MAX_FILE_CHARS:,}",
                file.span(0, 0),
                hint="split the rules over several files",
            )
        )
        return ast.Module(file, ()), diags
    pieces, shaped = ItemParser(parser, file), PieceBuilder(file)  # item by item (memo.py)
    for piece in pieces.pieces():
        if isinstance(piece, Tree):
            items.extend(_build_items(piece, file, diags))
        else:
            items.extend(shaped.build(*piece))
            diags.extend(shaped.diagnostics)
            shaped.diagnostics.clear()
    if pieces.failed_at is None:
        return ast.Module(file, tuple(items)), diags
    # a syntax error: the whole file again, with the recovery below, so what is salvaged
    # around the error (and so every later diagnostic) is as it always was
    items, diags, pos = [], [], 0
    while pos <= len(text):
        try:
            tree = parser.parse(_blank(text, pos, len(text)))
        except UnexpectedInput as err:
            diag = to_diagnostic(err, file, parser)
            diags.append(diag)
            err_pos = diag.span.start
            # salvage the items before the failing one, if they parse on their own
            before = [m.start() for m in _ITEM_START.finditer(text, pos, err_pos + 1)]
            if before and before[-1] > pos:
                items.extend(_parse_quietly(parser, file, pos, before[-1], diags))
            nxt = _ITEM_START.search(text, _next_line(text, err_pos))
            if nxt is None or len(diags) >= _MAX_SYNTAX_ERRORS:
                break
            pos = nxt.start()
            continue
        items.extend(_build_items(tree, file, diags))
        break
    return ast.Module(file, tuple(items)), diags


def _next_line(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _parse_quietly(
    parser: Lark, file: SourceFile, start: int, end: int, diags: list[Diagnostic]
) -> tuple[ast.Item, ...]:
    try:
        tree = parser.parse(_blank(file.text, start, end))
    except UnexpectedInput:
        return ()
    return tuple(_build_items(tree, file, diags))
