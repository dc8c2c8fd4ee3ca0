"""Where the cursor is: which item, which rule and hooks, which clause, what prefix.

Read from tokens, not from the AST: the text under an editor's cursor is half-typed
(`on gen`, `when tool.`), and the parser gives nothing useful for the item being
written. Items are cut where the grammar starts one (`rule`, `let`, `counter`,
`streak`, or an `on` that is not a named rule's first `on` clause), so a broken item
never hides the ones around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .lexed import Token, lex

ITEM_WORDS = ("rule", "let", "counter", "streak")
CLAUSES = ("on", "mode", "priority", "on_error", "since", "breaker", "when", "unless")
ACTIONS = (
    "block", "warn", "continue", "set", "redact", "add", "track", "append", "prepend", "replace",
)  # fmt: skip
OPERATOR_WORDS = ("and", "or", "not", "in", "contains", "startswith", "endswith", "matches")
QUANTIFIERS = ("any", "all", "count", "filter")
CONSTANTS = ("true", "false", "null")
# words after which an expression goes on (so no operand has ended)
_EXPR_OPEN = frozenset(
    (*OPERATOR_WORDS, *QUANTIFIERS, *CLAUSES, *ACTIONS, "let", "per", "of", "limit", "to")
)
_MARKERS = frozenset((*CLAUSES, *ACTIONS, "code", "with", "rule", "let", "per", "of", "limit"))
_REASONS = ("block", "warn", "continue", "append", "prepend", "replace")  # `{fact}` strings
_CODED = ("block", "warn", "continue")  # actions that take `code NAME` after their reason
_PART = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_0-9]*\Z")
_IGNORE = re.compile(r"#\s*guardrails:\s*ignore\[([A-Z0-9, ]*)\Z")
_WORD_BEFORE = re.compile(r"[A-Za-z0-9_]*\Z")  # \Z: `$` would match before a last newline


@dataclass
class Item:
    """One top-level item's tokens (comments left out). `kind`: rule (named), anon,
    let, counter, streak; `loose` for tokens before any item."""

    kind: str
    tokens: list[Token] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end

    @property
    def name(self) -> Token | None:
        """The rule id, let or state name as written (None: anonymous or not typed yet)."""
        if self.kind in ("rule", "let", "counter", "streak") and len(self.tokens) > 1:
            tok = self.tokens[1]
            return tok if tok.kind == "name" else None
        return None

    @property
    def description(self) -> str | None:
        if self.kind == "rule" and len(self.tokens) > 2 and self.tokens[2].kind == "string":
            return _unquote(self.tokens[2].text)
        return None

    def hooks(self) -> list[Token]:
        """The hook names of the item's `on` clauses, as written."""
        out: list[Token] = []
        toks = self.tokens
        for i in range(len(toks)):
            if not _keyword(toks, i, "on"):
                continue
            j = i + 1
            while j < len(toks) and toks[j].kind == "name":
                out.append(toks[j])
                if j + 1 < len(toks) and toks[j + 1].text == ",":
                    j += 2
                else:
                    break
        return out


def _unquote(text: str) -> str:
    body = text[1:]
    return body[:-1] if len(body) and body[-1] == text[0] else body


def _keyword(tokens: list[Token], i: int, *words: str) -> bool:
    """Token i is one of `words` as a keyword (not a field: `payload.count`)."""
    return tokens[i].is_word(*words) and not (i > 0 and tokens[i - 1].text == ".")


def items(tokens: list[Token]) -> list[Item]:
    """The items of a token list, comments dropped."""
    out: list[Item] = []
    current: Item | None = None
    code = [t for t in tokens if t.kind != "comment"]
    for i, tok in enumerate(code):
        starts = None
        if _keyword(code, i, *ITEM_WORDS):
            starts = tok.text
        elif _keyword(code, i, "on") and not (
            current is not None
            and current.kind == "rule"
            and not any(_keyword(current.tokens, k, "on") for k in range(len(current.tokens)))
        ):
            starts = "anon"
        if starts is not None or current is None:
            current = Item(starts or "loose")
            out.append(current)
        current.tokens.append(tok)
    return out


@dataclass(frozen=True)
class Context:
    """What the cursor can be completed with.

    `kind`: codes (inside an ignore comment), template (inside a reason's `{...}`:
    facts, lets, states; `member` once dotted), hooks, modes, on_error, breaker, with,
    streaks, counters, writable (a `set`/`redact` target), member (after `a.b.`; `chain`
    holds `a`, `b`; `writable` whether it is a target), expr (an operand; `facts` false
    in a `let`), pattern (a redact's: lets, detectors), after (an operand of a rule has
    ended: operators, clauses, actions), operator (one of a let or state has ended:
    operators), next (a clause or action has ended: clauses, actions), top (an item may
    start), none.
    """

    kind: str
    prefix: str
    start: int  # where the prefix starts (the completion replaces start..cursor)
    item: Item | None = None
    chain: tuple[str, ...] = ()
    writable: bool = False
    facts: bool = True
    line_start: bool = False  # only blanks before the prefix on its line
    used: frozenset[str] = frozenset()  # clauses the item already has
    coded: bool = False  # `code NAME` may come next (a block, warn or continue ended)


def _ends_operand(tok: Token) -> bool:
    if tok.kind in ("number", "string", "regex"):
        return True
    if tok.kind == "name":
        return tok.text not in _EXPR_OPEN
    return tok.text in (")", "]", "}")


def context_at(text: str, pos: int) -> Context:
    """The completion context of string index `pos` in `text`."""
    tokens = lex(text)
    for tok in tokens:
        if tok.start < pos <= tok.end and tok.kind == "comment":
            m = _IGNORE.search(text[tok.start : pos])
            if m is None:
                return Context("none", "", pos)
            prefix = re.search(r"[A-Z0-9]*\Z", m.group(1))
            assert prefix is not None
            return Context("codes", prefix.group(), pos - len(prefix.group()))
        inside = tok.start < pos < tok.end or (tok.start < pos == tok.end and not _closed(tok))
        if inside and tok.kind == "string":
            return _in_string(text, tokens, tok, pos)
        if tok.start < pos < tok.end and tok.kind == "regex":
            return Context("none", "", pos)
    prefix = _WORD_BEFORE.search(text[:pos])
    assert prefix is not None
    word = prefix.group()
    if word[:1].isdigit():
        return Context("none", "", pos)
    start = pos - len(word)
    line_start = text[text.rfind("\n", 0, start) + 1 : start].strip() == ""
    all_items = items(tokens)
    item = next((it for it in reversed(all_items) if it.start < start), None)
    before = [t for t in (item.tokens if item else []) if t.end <= start]
    if not before:
        return Context("top", word, start, line_start=True)
    return _classify(before, word, start, item, line_start)


def _in_string(text: str, tokens: list[Token], tok: Token, pos: int) -> Context:
    """Inside a reason's `{...}` (syntax/template.py): a fact path, a let or a state."""
    body = text[tok.start + 1 : pos].replace("{{", "  ").replace("}}", "  ")
    brace = body.rfind("{")
    part = _PART.match(body, brace + 1) if brace >= 0 and "}" not in body[brace:] else None
    item = next((it for it in items(tokens) if it.start <= tok.start <= it.end), None)
    if part is None or item is None or item.kind not in ("rule", "anon"):
        return Context("none", "", pos)
    at = item.tokens.index(tok) if tok in item.tokens else 0
    marker = next((i for i in range(at - 1, -1, -1) if _keyword(item.tokens, i, *_MARKERS)), None)
    if marker is None or item.tokens[marker].text not in _REASONS:
        return Context("none", "", pos)  # a rule's description, a pattern: no facts in it
    *chain, word = part.group().split(".")
    if word[:1].isdigit():
        return Context("none", "", pos)
    if chain:
        return Context("member", word, pos - len(word), item, chain=tuple(chain))
    return Context("template", word, pos - len(word), item)


def _closed(tok: Token) -> bool:
    return (
        len(tok.text) > 1
        and tok.text[-1] == tok.text[0]
        and not tok.text.endswith("\\" + tok.text[0])
    )


def _classify(
    before: list[Token], word: str, start: int, item: Item | None, line_start: bool
) -> Context:
    prev = before[-1]
    n = len(before)
    marker = next((i for i in range(n - 1, -1, -1) if _keyword(before, i, *_MARKERS)), None)
    clause = before[marker].text if marker is not None else None
    used = frozenset(t.text for i, t in enumerate(before) if _keyword(before, i, *CLAUSES))

    def ctx(kind: str, **kw: object) -> Context:
        return Context(kind, word, start, item, line_start=line_start, used=used, **kw)  # type: ignore[arg-type]

    if prev.text == ".":
        chain: list[str] = []
        i = n - 2
        while i >= 0 and before[i].kind == "name":
            chain.insert(0, before[i].text)
            if i >= 1 and before[i - 1].text == ".":
                i -= 2
                continue
            break
        if not chain:
            return ctx("none")
        target = i >= 1 and _keyword(before, i - 1, "set", "redact")
        return ctx("member", chain=tuple(chain), writable=target)
    if _keyword(before, n - 1, "on") or (clause == "on" and prev.text == ","):
        return ctx("hooks")
    simple = {"mode": "modes", "on_error": "on_error", "breaker": "breaker", "with": "with",
              "track": "streaks", "set": "writable", "redact": "writable"}  # fmt: skip
    if prev.kind == "name" and _keyword(before, n - 1, *simple):
        return ctx(simple[prev.text])
    if _keyword(before, n - 1, "to") and clause == "add":
        return ctx("counters")
    if _keyword(before, n - 1, "rule", "let", "counter", "streak", "code", "since", "priority"):
        return ctx("none")
    if clause in ("set", "redact") and marker is not None:
        rest = before[marker + 1 :]
        if clause == "set" and not any(t.text == "=" for t in rest):
            return ctx("none")  # between the target and its `=`
        if clause == "redact" and all(t.kind == "name" or t.text == "." for t in rest):
            return ctx("pattern")  # a let or a detector
    expression = ("when", "unless", "set", "redact", "add", "append", "prepend", "replace",
                  "per", "of", "limit", "let")  # fmt: skip
    if clause in expression or (item is not None and item.kind in ("let", "counter", "streak")):
        if clause == "let" and not any(t.text == "=" for t in before):
            return ctx("none")
        if _ends_operand(prev):
            return ctx("after" if item is None or item.kind in ("rule", "anon") else "operator")
        facts = item is None or item.kind not in ("let",)
        return ctx("expr", facts=facts)
    if item is not None and item.kind in ("rule", "anon"):
        reason = before[marker + 1 :] if marker is not None else []
        coded = clause in _CODED and all(t.kind == "string" for t in reason)
        return ctx("next", coded=coded)
    return ctx("top")
