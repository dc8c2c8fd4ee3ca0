"""Completion items for a cursor: pure data, turned into LSP items by language.py.

What is offered follows the grammar at the cursor (context.py): hooks after `on`, the
facts of the rule's hooks in a condition (only the facts every one of its hooks has,
since the checker rejects the others), only writable ones as a `set`/`redact` target,
and the ruleset's own `let` and state names from every file of the directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ...check.catalog import Catalog, FactSpec
from ...runtime.hostfn import HostFunction
from . import reference
from .context import (
    ACTIONS,
    CLAUSES,
    CONSTANTS,
    ITEM_WORDS,
    OPERATOR_WORDS,
    QUANTIFIERS,
    Context,
    Item,
    context_at,
)
from .lexed import Range, offset_at
from .symbols import Index, index

_SEEN = "key used in this ruleset"


@dataclass(frozen=True, slots=True)
class Completion:
    label: str
    kind: (
        str  # hook | fact | field | function | let | state | mode | keyword | action | code | value
    )
    detail: str = ""
    doc: str = ""
    insert: str | None = None  # None: the label
    range: Range | None = None  # what the item replaces (the prefix typed so far)


def complete(
    texts: Mapping[str, str],
    path: str,
    line: int,
    character: int,
    catalog: Catalog,
    functions: Mapping[str, HostFunction] | None = None,
) -> list[Completion]:
    """The items for a cursor at (line, UTF-16 character) in `texts[path]`, filtered by
    the prefix typed so far (case-insensitive), sorted by label. `functions`: the host
    functions the checker knows (`guardrails lsp --functions`, the judge's)."""
    text = texts.get(path, "")
    pos = offset_at(text, line, character)
    ctx = context_at(text, pos)
    found = _items(ctx, texts, catalog)
    if ctx.kind == "expr":
        for fn in (functions or {}).values():
            signature, doc = reference.host_doc(fn)
            found.append(Completion(fn.name, "function", signature, doc, f"{fn.name}("))
    low = ctx.prefix.lower()
    rng = Range.of(text, ctx.start, pos)
    out = {
        (c.label, c.kind): c
        for c in found
        if c.label.lower().startswith(low) and not (c.label == ctx.prefix and c.detail == _SEEN)
    }
    return [
        Completion(c.label, c.kind, c.detail, c.doc, c.insert, rng)
        for c in sorted(out.values(), key=lambda c: (c.label, c.kind))
    ]


def _items(ctx: Context, texts: Mapping[str, str], catalog: Catalog) -> list[Completion]:
    kind = ctx.kind
    if kind == "codes":
        return [Completion(c, "code", reference.code_title(c)) for c in reference.lint_codes()]
    if kind == "hooks":
        return [Completion(h.name, "hook", h.origin, _hook_doc(h.name, catalog)) for h in catalog]
    if kind == "modes":
        return [Completion(m, "mode", doc) for m, doc in reference.mode_names()]
    if kind == "on_error":
        return [Completion(v, "value", doc) for v, doc in reference.ON_ERROR.items()]
    if kind == "breaker":
        return [Completion("off", "value", "no circuit breaker for this rule")]
    if kind == "with":
        return [Completion("mask", "value", "one * per character"),
                Completion("hash", "value", "[TYPE:sha256 prefix]")]  # fmt: skip
    if kind in ("streaks", "counters"):
        want = "streak" if kind == "streaks" else "counter"
        idx = index(texts)
        return [
            Completion(s.name, "state", want, s.value)
            for s in idx.states.values()
            if s.kind == want
        ]
    if kind == "writable":
        return _facts(_hook_facts(ctx.item, catalog), (), writable=True)
    if kind == "member":
        facts = _hook_facts(ctx.item, catalog)
        items = _facts(facts, ctx.chain, writable=ctx.writable)
        if ".".join(ctx.chain) not in facts:  # a namespace (`tool.`): the catalog is all
            return items
        return items + _seen_keys(texts, ctx.chain, {i.label for i in items})
    if kind == "pattern":
        detectors = [n for n in reference.function_names() if reference.is_detector(n)]
        out = [Completion(n, "function", "detector", _doc(n)) for n in detectors]
        return out + [
            Completion(n, "let", "let", f"`let {n} = {s.value}`")
            for n, s in index(texts).lets.items()
        ]
    if kind == "template":
        idx = index(texts)
        out = _facts(_hook_facts(ctx.item, catalog), (), writable=False)
        out += [Completion(s.name, "state", s.kind, s.value) for s in idx.states.values()]
        return out + [
            Completion(n, "let", "let", f"`let {n} = {s.value}`") for n, s in idx.lets.items()
        ]
    if kind == "expr":
        return _expression(ctx, index(texts), catalog)
    if kind in ("after", "operator"):
        out = [Completion(w, "keyword", "operator") for w in OPERATOR_WORDS if w != "not"]
        out.append(Completion("not in", "keyword", "operator"))
        if kind == "after":
            return out + _clauses_and_actions(ctx)
        return out + (_starters() if ctx.line_start else [])
    if kind == "next":
        return _clauses_and_actions(ctx)
    if kind == "top":
        return _starters()
    return []


def _doc(function: str) -> str:
    found = reference.function_doc(function)
    return found[1] if found else ""


def _starters() -> list[Completion]:
    return [Completion(w, "keyword", "starts an item") for w in (*ITEM_WORDS, "on")]


def _clauses_and_actions(ctx: Context) -> list[Completion]:
    out = [Completion(w, "keyword", "clause", reference.KEYWORD_DOCS.get(w, ""))
           for w in CLAUSES if w not in ctx.used]  # fmt: skip
    out += [Completion(w, "action", "action", reference.KEYWORD_DOCS.get(w, "")) for w in ACTIONS]
    if ctx.coded:
        doc = "`code NAME`: a stable code for the verdict, which hosts and logs report"
        out.append(Completion("code", "keyword", "the action's code", doc, "code "))
    if ctx.line_start:
        out += _starters()
    return out


def _expression(ctx: Context, idx: Index, catalog: Catalog) -> list[Completion]:
    out: list[Completion] = []
    if ctx.facts:
        out += _facts(_hook_facts(ctx.item, catalog), (), writable=False)
        out += [Completion(s.name, "state", s.kind, s.value) for s in idx.states.values()]
        out += [Completion(n, "let", "bound element") for n in _bound_names(ctx.item)]
    for name in reference.function_names():
        sig = reference.function_doc(name)
        signature, doc = sig if sig else (name, "")
        out.append(Completion(name, "function", signature, doc, f"{name}("))
    for name, sym in idx.lets.items():
        out.append(Completion(name, "let", "let", f"`let {name} = {sym.value}`"))
    out += [Completion(w, "keyword", "quantifier") for w in QUANTIFIERS]
    out += [Completion(w, "keyword", "constant") for w in (*CONSTANTS, "not")]
    return out


def _bound_names(item: Item | None) -> list[str]:
    toks = item.tokens if item else []
    return [
        toks[i + 1].text
        for i, t in enumerate(toks[:-2])
        if t.is_word(*QUANTIFIERS) and toks[i + 1].kind == "name" and toks[i + 2].is_word("in")
    ]


def _hook_facts(item: Item | None, catalog: Catalog) -> dict[str, FactSpec]:
    """The facts every known hook of the item has (all hooks' facts when none is known)."""
    specs = [catalog.get(t.text) for t in (item.hooks() if item else [])]
    known = [s for s in specs if s is not None]
    if not known:
        merged: dict[str, FactSpec] = {}
        for spec in catalog:
            for path, fact in spec.facts.items():
                merged.setdefault(path, fact)
        return merged
    common = dict(known[0].facts)
    for spec in known[1:]:
        common = {p: f for p, f in common.items() if p in spec.facts}
        for p in common:  # writable only where every hook lets it be written
            if not spec.facts[p].writable:
                common[p] = FactSpec(p, common[p].type, False, common[p].doc, common[p].kind)
    return common


def _facts(
    facts: Mapping[str, FactSpec], chain: tuple[str, ...], writable: bool
) -> list[Completion]:
    """The next path segment after `chain` of every fact below it."""
    out: dict[str, Completion] = {}
    depth = len(chain)
    for path, fact in facts.items():
        parts = path.split(".")
        if len(parts) <= depth or tuple(parts[:depth]) != chain:
            continue
        if writable and not fact.writable:
            continue
        label = parts[depth]
        if len(parts) == depth + 1:
            flag = ", writable" if fact.writable else ""
            out[label] = Completion(label, "fact", f"{fact.type} ({fact.kind}{flag})", fact.doc)
        elif label not in out:
            below = sorted(p for p in facts if p.startswith(".".join(parts[: depth + 1]) + "."))
            out[label] = Completion(label, "field", "namespace", ", ".join(f"`{p}`" for p in below))
    return list(out.values())


def _seen_keys(
    texts: Mapping[str, str], chain: tuple[str, ...], have: set[str]
) -> list[Completion]:
    """Keys written after `chain.` elsewhere in the ruleset (a map fact's keys are not in
    the catalog: `model_options.temperature`)."""
    dotted = r"\.".join(re.escape(c) for c in chain)
    pattern = re.compile(r"(?<![\w.])" + dotted + r"\.([A-Za-z_]\w*)")
    seen = {m.group(1) for text in texts.values() for m in pattern.finditer(text)}
    return [Completion(k, "field", _SEEN) for k in sorted(seen - have)]


def _hook_doc(name: str, catalog: Catalog) -> str:
    spec = catalog.get(name)
    if spec is None:
        return ""
    writable = ", ".join(f"`{w}`" for w in spec.writable_facts) or "nothing (observe only)"
    return f"fired by {spec.origin}; writable: {writable}"
