"""Hover text: what a word under the cursor is, in Markdown.

A fact says its type, which hosts give it on each of the rule's hooks and how (a
payload field, a normalized fact the adapter fills, the cpex GlobalContext), and
whether `set`/`redact` may write it there; a function its signature; a `let` its
value; a rule id its description; a diagnostic code in a comment what it means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ...check import hookdefs
from ...check.catalog import Catalog, HookSpec
from ...hosts import BUILTIN
from ...runtime.hostfn import HostFunction
from . import reference
from .context import Item, items
from .lexed import Range, Token, lex, offset_at
from .symbols import Symbol, index, word_at

_CODE = re.compile(r"GR\d{4}")


@dataclass(frozen=True, slots=True)
class Hover:
    markdown: str
    range: Range


def hover(
    texts: Mapping[str, str],
    path: str,
    line: int,
    character: int,
    catalog: Catalog,
    functions: Mapping[str, HostFunction] | None = None,
) -> Hover | None:
    """`functions`: the host functions the checker knows, as for completion."""
    text = texts.get(path, "")
    pos = offset_at(text, line, character)
    tokens = lex(text)
    for tok in tokens:
        if tok.kind == "comment" and tok.start <= pos <= tok.end:
            for m in _CODE.finditer(text, tok.start, tok.end):
                if m.start() <= pos <= m.end():
                    doc = reference.code_doc(m.group())
                    return Hover(doc, Range.of(text, m.start(), m.end())) if doc else None
            return None
    code = [t for t in tokens if t.kind != "comment"]
    hit = word_at(code, pos)
    if hit is None:
        return None
    i, tok = hit
    item = next((it for it in reversed(items(tokens)) if it.start <= tok.start), None)
    md = _describe(code, i, item, texts, catalog)
    fn = (functions or {}).get(tok.text)
    if md is None and fn is not None and i + 1 < len(code) and code[i + 1].text == "(":
        signature, doc = reference.host_doc(fn)
        md = f"```\n{signature}\n```\n\n{doc}"
    return Hover(md, Range.of(text, tok.start, tok.end)) if md else None


def _describe(
    code: list[Token], i: int, item: Item | None, texts: Mapping[str, str], catalog: Catalog
) -> str | None:
    tok = code[i]
    prev = code[i - 1] if i > 0 else None
    nxt = code[i + 1] if i + 1 < len(code) else None
    idx = index(texts)
    if prev is not None and prev.is_word("rule"):
        sym = idx.rules.get(tok.text)
        return _rule(sym) if sym else f"rule `{tok.text}`"
    if prev is not None and prev.is_word("mode"):
        doc = dict(reference.mode_names()).get(tok.text)
        return f"mode `{tok.text}`: {doc}" if doc else None
    if item is not None and any(h.start == tok.start for h in item.hooks()):
        spec = catalog.get(tok.text)
        return _hook(spec) if spec else None
    after_dot = prev is not None and prev.text == "."
    if not after_dot:
        if (nxt is not None and nxt.text == "(") or reference.is_detector(tok.text):
            fn = reference.function_doc(tok.text)
            if fn:
                return f"```\n{fn[0]}\n```\n\n{fn[1]}".rstrip()
        bound = _bound(item, tok.text)
        if bound is not None:
            return bound
        sym = idx.lets.get(tok.text) or idx.states.get(tok.text)
        if sym is not None:
            return _named(sym)
        if tok.text in reference.KEYWORD_DOCS and not _fact_root(tok.text, item, catalog):
            return f"`{tok.text}`: {reference.KEYWORD_DOCS[tok.text]}"
    chain = [tok.text]
    j = i
    while j >= 2 and code[j - 1].text == "." and code[j - 2].kind == "name":
        chain.insert(0, code[j - 2].text)
        j -= 2
    return _fact(".".join(chain), item, catalog)


def _bound(item: Item | None, name: str) -> str | None:
    """A quantifier's element: `any m in messages:` binds `m`."""
    toks = item.tokens if item else []
    for i, tok in enumerate(toks[:-3]):
        quantifier = tok.is_word("any", "all", "count", "filter")
        if quantifier and toks[i + 1].text == name and toks[i + 2].is_word("in"):
            return f"`{name}`: each element of `{toks[i + 3].text}` (`{tok.text}`)"
    return None


def _rule(sym: Symbol) -> str:
    out = f"rule `{sym.name}`"
    if sym.value:
        out += f": {sym.value}"
    if sym.hooks:
        out += "\n\non " + ", ".join(f"`{h}`" for h in sym.hooks)
    return out + f"\n\ndefined in {sym.path}"


def _named(sym: Symbol) -> str:
    if sym.kind == "let":
        return f"```\nlet {sym.name} = {sym.value}\n```\n\ndefined in {sym.path}"
    return f"```\n{sym.value}\n```\n\n{sym.kind}, defined in {sym.path}"


def _hook(spec: HookSpec) -> str:
    writable = ", ".join(f"`{w}`" for w in spec.writable_facts) or "nothing (observe only)"
    return f"hook `{spec.name}`, fired by {spec.origin}\n\nwritable: {writable}"


def _hooks_of(item: Item | None, catalog: Catalog) -> list[HookSpec]:
    specs = [catalog.get(t.text) for t in (item.hooks() if item else [])]
    known = [s for s in specs if s is not None]
    return known or list(catalog)


def _fact_root(name: str, item: Item | None, catalog: Catalog) -> bool:
    return any(
        p == name or p.startswith(name + ".") for s in _hooks_of(item, catalog) for p in s.facts
    )


def _fact(path: str, item: Item | None, catalog: Catalog) -> str | None:
    """A fact's type, doc, and per hook of the rule: who gives it, how, writable or not."""
    specs = _hooks_of(item, catalog)
    having = [s for s in specs if path in s.facts]
    if not having:
        below = sorted({p for s in specs for p in s.facts if p.startswith(path + ".")})
        if below:
            return f"`{path}`: " + ", ".join(f"`{p}`" for p in below)
        parts = path.split(".")
        for n in range(len(parts) - 1, 0, -1):
            root = ".".join(parts[:n])
            owner = next((s.facts[root] for s in specs if root in s.facts), None)
            if owner is not None:
                return f"`{path}`: a key of `{root}` ({owner.type}), read when the rule runs"
        return None
    fact = having[0].facts[path]
    lines = [f"`{path}`: {fact.type}"]
    if fact.doc and fact.doc != "payload field":
        lines += ["", fact.doc]
    lines.append("")
    if item is None or not any(catalog.get(h.text) for h in item.hooks()):
        names = ", ".join(f"`{s.name}`" for s in having)
        return "\n".join([*lines, f"a fact of {names}"])
    for spec in having:
        f = spec.facts[path]
        flag = "writable" if f.writable else "read-only"
        lines.append(f"- `{spec.name}`: {_sources(path, spec)}; {flag}")
    missing = [s.name for s in specs if path not in s.facts]
    if item is not None and item.hooks() and missing:
        lines.append("- not a fact of " + ", ".join(f"`{m}`" for m in missing))
    return "\n".join(lines)


def _sources(path: str, spec: HookSpec) -> str:
    """How each host of a hook gives a fact: a payload field, its adapter, the context."""
    fact = spec.facts[path]
    if fact.kind == "context":
        return "the call's context (cpex GlobalContext)"
    tables = [t for t in BUILTIN if spec.name in t.hooks]
    if not tables:
        return f"{fact.kind} ({spec.origin})"
    parts = []
    for table in tables:
        fields = {e.split(":")[0].strip() for e in (*table.base_fields, *table.hooks[spec.name])}
        if path in fields:
            how = "payload field"
        elif fact.derived:
            how = "derived by the engine"
        elif any(
            e.split(":")[0].strip() == path for e in hookdefs.NORMALIZED_FACTS.get(spec.name, ())
        ):
            how = "normalized by its adapter"
        elif any(e.split(":")[0].strip() == path for e in table.facts.get(spec.name, ())):
            how = "given by its adapter"
        else:
            continue
        parts.append(f"{table.name}: {how}")
    return ", ".join(parts) or f"{fact.kind} ({spec.origin})"
