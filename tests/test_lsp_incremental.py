"""The language server's incremental check gives exactly what a full check gives.

The server keeps the items of a file an edit did not touch (syntax/incremental.py)
and the checks of rules it has seen (check/reuse.py). Seeded random edit sequences
over a copy of rules/ compare every diagnostic (code, message, hint, exact span, the
places it names) with a fresh parse and check of the same texts after each edit.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.policy.frontend import check_parsed, host_table
from guardrails.source import SourceFile
from guardrails.syntax.incremental import IncrementalParser
from guardrails.syntax.parser import parse
from guardrails.tooling.lsp.workspace import RulesWorkspace

ROOT = Path(__file__).resolve().parents[1]
LINES = (
    'let extra = ["a", "b"]',
    'rule copy on tool_pre_invoke when tool.name == "x" block',
    'on tool_pre_invoke when tool.nam == "y" block "no {tool.name}"',
    "on generation_pre_call when tokens > 10 and tokens < 5 warn",
    "counter calls per user.id every 1m",
    "rule uses on tool_pre_invoke when tool.name in extra block",
    "rule broken on tool_pre_invoke when (",
    'on tool_pre_invoke when tool.name == "z" block',  # anonymous: its id is its line
    "# a comment",
    "",
)


def _said(found):
    return sorted(
        (
            d.file,
            d.code,
            d.severity.value,
            d.message,
            d.hint,
            d.span.start,
            d.span.end,
            tuple((note, s.file.path, s.start, s.end) for note, s in d.related),
        )
        for diags in found
        for d in diags
    )


def _full(ws: RulesWorkspace, uri: str):
    texts, root = ws.ruleset_texts(uri), ws.ruleset_root(uri)
    assert root is not None
    parsed = [
        parse(SourceFile(str(Path(root.name) / Path(k).relative_to(root)), t))
        for k, t in texts.items()
    ]
    _, diags = check_parsed(parsed, DEFAULT_CATALOG, host_table(None, None))
    return _said([diags])


def _edit(rng: random.Random, text: str, original: str) -> str:
    lines = text.split("\n")
    at = rng.randrange(len(lines))
    choice = rng.randrange(6)
    if choice == 0 and text:  # a keystroke
        pos = rng.randrange(len(text))
        typed = rng.choice(["a", "1", " ", "\n", '"', "(", ".", ""])
        return text[:pos] + typed + text[pos + 1 :]
    if choice == 1:
        del lines[at]
    elif choice == 2:
        lines.insert(at, lines[at])  # a copied rule: duplicate ids, shadowing
    elif choice == 3:
        lines.insert(at, rng.choice(LINES))
    elif choice == 4:
        return original
    else:  # a number typed longer: everything after it moves
        return text.replace("0", "00", 1) if "0" in text else text + "\n"
    return "\n".join(lines)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_give_the_full_checks_diagnostics(tmp_path, seed):
    root = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", root)
    rng = random.Random(seed)
    files = sorted(root.glob("*.rules"))
    ws = RulesWorkspace([tmp_path])
    texts = {p: p.read_text(encoding="utf-8") for p in files}
    reused = hits = 0
    for step in range(25):
        target = rng.choice(files) if step % 5 == 0 else files[seed % len(files)]
        uri = target.as_uri()
        texts[target] = _edit(rng, texts[target], target.read_text(encoding="utf-8"))
        ws.change(uri, texts[target])
        incremental = _said(ws.check(uri).values())
        assert incremental == _full(ws, uri), f"seed {seed}, step {step}"
        parser = ws._parsers[str(target)]
        reused += parser.reused
        hits += ws._memos[str(root)].hits
    assert reused and hits  # the edits were checked incrementally, not from scratch


def test_an_edit_reparses_one_item_and_rechecks_one_rule(tmp_path):
    root = tmp_path / "rules"
    root.mkdir()
    rules = [f'rule r{i} on tool_pre_invoke when tool.name == "t{i}" block' for i in range(50)]
    path = root / "a.rules"
    path.write_text("\n".join(rules) + "\nrule r3 on tool_pre_invoke block\n", encoding="utf-8")
    ws = RulesWorkspace([tmp_path])
    uri = path.as_uri()
    ws.check(uri)
    rules[10] = rules[10].replace('"t10"', '"longer name"')
    ws.change(uri, "\n".join(rules) + "\nrule r3 on tool_pre_invoke block\n")
    [dup] = ws.check(uri)[uri]
    assert ws._parsers[str(path)].reused == 50  # 51 items, one parsed again
    assert ws._memos[str(root)].hits == 50  # and one rule checked again
    text = ws.document_text(uri)
    assert text is not None
    assert (dup.code, dup.span.start) == ("GR0205", text.rindex("r3"))  # moved by the edit
    [(note, first)] = dup.related
    assert (note, first.start, first.text()) == ("rule 'r3' is first defined here",
                                                 text.index("r3 "), "r3")  # fmt: skip


def test_a_syntax_error_is_recovered_from_as_parse_does_reusing_the_pieces_around_it():
    lines = [f"rule r{i} on tool_pre_invoke block" for i in range(30)]
    lines[20] = "rule r20 ^"  # an error further down all along
    parser = IncrementalParser()
    parser.update(SourceFile("x.rules", "\n".join(lines)))
    for broken in ("rule r10 on (", "rule r10 on tool_pre_invoke when", "rule r10 on x \"y",
                   "rule r10", "on tool_pre_invoke when a = b block"):  # fmt: skip
        text = "\n".join([*lines[:10], broken, *lines[11:]])
        module, diags = parser.update(SourceFile("x.rules", text))
        assert parser.reused == 29  # the edited piece parsed again, nothing else
        full, full_diags = parse(SourceFile("x.rules", text))
        assert [(d.code, d.message, d.hint, d.span.start, d.span.end) for d in diags] == [
            (d.code, d.message, d.hint, d.span.start, d.span.end) for d in full_diags
        ]
        assert module.items == full.items  # the same AST (spans are not compared)
        assert [i.span.start for i in module.items] == [i.span.start for i in full.items]


def test_an_anonymous_rule_moved_by_an_edit_gets_its_new_line_in_its_id(tmp_path):
    (tmp_path / "a.rules").write_text("", encoding="utf-8")
    uri = (tmp_path / "a.rules").as_uri()
    ws = RulesWorkspace([tmp_path])
    rule = 'on tool_pre_invoke when tool.name == "z" block\n'
    ws.change(uri, rule + rule)
    ws.check(uri)
    ws.change(uri, "# moved\n" + rule + rule)
    [shadowed] = ws.check(uri)[uri]
    assert shadowed.message.startswith("rule a:3 never runs: a:2 (")
    assert _said([[shadowed]]) == _full(ws, uri)


def test_random_keystrokes_in_one_large_file_parse_as_parse_does():
    """All of rules/ in one file, typed into at random: most steps leave syntax errors,
    so this is mostly the recovery."""
    whole = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "rules").glob("*")))
    typed = ["a", "1", " ", "\n", '"', "(", ")", ".", "", "=", "rule ", "on ", "\nrule x", "/"]
    rng = random.Random(7)
    parser, text, recovered = IncrementalParser(), whole, 0
    for _ in range(30):
        pos = rng.randrange(len(text) + 1)
        text = text[:pos] + rng.choice(typed) + text[pos + rng.choice([0, 1, 2]) :]
        module, diags = parser.update(SourceFile("a.rules", text))
        full, full_diags = parse(SourceFile("a.rules", text))
        assert [(d.code, d.message, d.hint, d.span.start, d.span.end) for d in diags] == [
            (d.code, d.message, d.hint, d.span.start, d.span.end) for d in full_diags
        ]
        assert module.items == full.items
        assert [i.span.start for i in module.items] == [i.span.start for i in full.items]
        recovered += any(p.items is None for p in parser.pieces or [])
    assert recovered > 15
