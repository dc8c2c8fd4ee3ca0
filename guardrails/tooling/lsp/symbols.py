"""The ruleset's own names across its files: `let`s, states and rule ids, where each is
defined and used; and hover, go to definition and find references over them.

Lets and states are shared by every file of a load, so a name is looked up in the
whole directory's texts (open buffers included), not just the file being edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .context import CLAUSES, ITEM_WORDS, Item, items
from .lexed import Range, Token, lex, offset_at


@dataclass(frozen=True, slots=True)
class Symbol:
    kind: str  # let | rule | counter | streak
    name: str
    path: str
    start: int  # the name token's offsets in its file
    end: int
    value: str = ""  # a let's value, a state's declaration, a rule's description
    hooks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Location:
    path: str
    range: Range


@dataclass
class Index:
    """Every definition in a ruleset; the first of a duplicated name wins the maps (the
    checker reports the others), `all` keeps every one."""

    lets: dict[str, Symbol] = field(default_factory=dict)
    states: dict[str, Symbol] = field(default_factory=dict)
    rules: dict[str, Symbol] = field(default_factory=dict)
    all: list[Symbol] = field(default_factory=list)
    tokens: dict[str, list[Token]] = field(default_factory=dict)


def index(texts: Mapping[str, str]) -> Index:
    idx = Index()
    for path in sorted(texts):
        text = texts[path]
        toks = lex(text)
        idx.tokens[path] = toks
        for item in items(toks):
            sym = _symbol(item, path, text)
            if sym is None:
                continue
            idx.all.append(sym)
            table = {"let": idx.lets, "rule": idx.rules}.get(sym.kind, idx.states)
            table.setdefault(sym.name, sym)
    return idx


def _symbol(item: Item, path: str, text: str) -> Symbol | None:
    name = item.name
    if name is None:
        return None
    if item.kind == "let":
        eq = next((t for t in item.tokens[2:3] if t.text == "="), None)
        value = " ".join(text[eq.end : item.end].split()) if eq else ""
        return Symbol("let", name.text, path, name.start, name.end, value)
    if item.kind == "rule":
        hooks = tuple(t.text for t in item.hooks())
        return Symbol("rule", name.text, path, name.start, name.end, item.description or "", hooks)
    value = " ".join(text[item.start : item.end].split())
    return Symbol(item.kind, name.text, path, name.start, name.end, value)


def word_at(tokens: list[Token], pos: int) -> tuple[int, Token] | None:
    """The name token under the cursor (touching it from either side counts)."""
    for i, tok in enumerate(tokens):
        if tok.start <= pos <= tok.end and tok.kind == "name":
            return i, tok
        if tok.start > pos:
            break
    return None


def _code(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind != "comment"]


def _is_reference(code: list[Token], i: int) -> bool:
    """A bare name in an expression (not a field after `.`, not a keyword, not a name
    being declared)."""
    if i > 0 and code[i - 1].text == ".":
        return False
    return not (
        i > 0 and code[i - 1].is_word("rule", "on", "mode", "code", "on_error", *ITEM_WORDS)
    )


def _location(path: str, texts: Mapping[str, str], start: int, end: int) -> Location:
    return Location(path, Range.of(texts[path], start, end))


def _target(
    texts: Mapping[str, str], path: str, line: int, character: int, idx: Index
) -> Symbol | None:
    """The let, state or rule id named at the cursor, if it is one of the ruleset's."""
    text = texts.get(path, "")
    code = _code(idx.tokens.get(path) or lex(text))
    hit = word_at(code, offset_at(text, line, character))
    if hit is None:
        return None
    i, tok = hit
    if i > 0 and code[i - 1].is_word("rule"):
        return idx.rules.get(tok.text)
    if i > 0 and code[i - 1].text == ".":
        return None
    if tok.text in CLAUSES and not (i > 0 and code[i - 1].is_word(*ITEM_WORDS, "to", "track")):
        return None
    return idx.lets.get(tok.text) or idx.states.get(tok.text)


def definition(texts: Mapping[str, str], path: str, line: int, character: int) -> list[Location]:
    """Where the let, state or rule id at the cursor is defined (every definition of a
    duplicated name, so the duplicate is one jump away)."""
    idx = index(texts)
    sym = _target(texts, path, line, character, idx)
    if sym is None:
        return []
    same = [s for s in idx.all if s.name == sym.name and (s.kind == "rule") == (sym.kind == "rule")]
    return [_location(s.path, texts, s.start, s.end) for s in same]


def references(
    texts: Mapping[str, str], path: str, line: int, character: int, declaration: bool = True
) -> list[Location]:
    """Every use of the let, state or rule id at the cursor in the ruleset, in file order;
    `declaration` adds the definitions. A rule id is used only where it is defined
    (nothing in the language refers to a rule), so its references are its definitions."""
    idx = index(texts)
    sym = _target(texts, path, line, character, idx)
    if sym is None:
        return []
    defs = {(s.path, s.start) for s in idx.all if s.name == sym.name}
    out: list[Location] = []
    for file in sorted(texts):
        code = _code(idx.tokens[file])
        for i, tok in enumerate(code):
            if tok.kind != "name" or tok.text != sym.name:
                continue
            is_def = (file, tok.start) in defs
            if is_def and not declaration:
                continue
            if is_def or (sym.kind != "rule" and _is_reference(code, i)):
                out.append(_location(file, texts, tok.start, tok.end))
    return out
