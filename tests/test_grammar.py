"""The grammar: what it accepts (with positions on every node) and what it rejects."""

from __future__ import annotations

import dataclasses

import pytest

from guardrails.source import SourceFile
from guardrails.syntax import ast
from guardrails.syntax.parser import parse

ACCEPTED = [
    "on generation_pre_call when tokens > 4000 block",
    "",
    "# only a comment",
    'rule r "desc" on generation_pre_call block',
    "rule r on a, b, c mode transform priority 20 when x unless y set p.q = 1",
    "rule r on h priority -5 warn 'w' code W",
    'rule r on h block "reason" code SOME_CODE warn set a = 1 redact b /x/ with "y"',
    "rule r on h redact a.b['k'][0] pats",
    "rule r on h redact a 'literal pattern'",
    "let xs = [1, 2.5, 'a', \"b\", true, false, null, /re/imsx, [1, [2]],]",
    "let empty = []",
    "on h when a.b[0]['c'] == -1.5e3 and not (x or y) block",
    "on h when a not in [1] or a in b or s contains 't' or s startswith 'a' block",
    "on h when s endswith 'a' and s matches /a\\/b/ and s matches [/x/, 'y'] block",
    "on h when 1 + 2 * 3 - 4 / 5 > -x block",
    "on h when len(x) > 0 and min(1, 2,) < max(x) and exists(a.b) block",
    "on h when code == 1 and mode == 2 and set == 3 and block == 4 block",  # keywords as names
    "on h\n  when\n    x\n  >\n  3\nblock",  # newlines are not significant
    "on h when s == 'it\\'s \\\"q\\\" \\n\\t\\u00e9\\x41' block",
]

REJECTED = [
    "on h when x > block",
    "rule on h block",
    "on h when x = 1 block",
    "on h when x < y < z block",  # comparisons do not chain
    "on h when x > 3",
    "let = 3",
    "let x 3",
    "on h when (x > 3 block",
    "on h when x > 3 block code",
    "on h redact a [/x/]",  # a list literal would clash with a[...]: use a let
    "on h when 'unterminated block",
    "on h when x matches /unterminated block",
    "rule 1abc on h block",
    "on h priority 1.5 block",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepts(text):
    module, diags = parse(SourceFile("g.rules", text))
    assert diags == []
    for item in module.items:
        _assert_spans(item)


@pytest.mark.parametrize("text", REJECTED)
def test_rejects(text):
    _, diags = parse(SourceFile("g.rules", text))
    assert diags, text
    assert all(d.code.startswith("GR01") for d in diags)


def _assert_spans(node: object) -> None:
    if isinstance(node, ast.Node):
        assert node.span.end >= node.span.start
        assert node.span.line >= 1 and node.span.column >= 1
        assert node.span.text() or isinstance(node, ast.Path)
        for f in dataclasses.fields(node):
            _assert_spans(getattr(node, f.name))
    elif isinstance(node, tuple):
        for child in node:
            _assert_spans(child)


def test_one_liner_builds_the_expected_ast():
    (rule,) = parse(SourceFile("g.rules", "on generation_pre_call when tokens > 4000 block"))[
        0
    ].items
    assert isinstance(rule, ast.Rule)
    assert rule.name is None
    assert [h.name for h in rule.hooks[0]] == ["generation_pre_call"]
    (cond,) = rule.when
    assert isinstance(cond, ast.Compare) and cond.op == ">"
    assert cond.left == ast.Name("tokens", span=cond.left.span)
    assert cond.right == ast.Literal(4000, span=cond.right.span)
    assert (cond.span.line, cond.span.column) == (1, 29)
    assert rule.actions == (ast.Block("block", None, None, span=rule.actions[0].span),)


def test_precedence():
    (rule,) = parse(SourceFile("g.rules", "on h when a or b and not c == 1 + 2 * 3 block"))[0].items
    assert isinstance(rule, ast.Rule)
    top = rule.when[0]
    assert isinstance(top, ast.BoolOp) and top.op == "or"
    right = top.right
    assert isinstance(right, ast.BoolOp) and right.op == "and"
    neg = right.right
    assert isinstance(neg, ast.Unary) and neg.op == "not"
    cmp = neg.operand
    assert isinstance(cmp, ast.Compare) and cmp.op == "=="
    add = cmp.right
    assert isinstance(add, ast.BinOp) and add.op == "+"
    assert isinstance(add.right, ast.BinOp) and add.right.op == "*"


def test_string_escapes_and_regex_slash():
    text = "let s = 'a\\'b\\n\\u00e9\\x41\\\\'\nlet r = /a\\/b\\d/i"
    items = parse(SourceFile("g.rules", text))[0].items
    s, r = items
    assert isinstance(s, ast.Let) and isinstance(s.value, ast.Literal)
    assert s.value.value == "a'b\néA\\"
    assert isinstance(r, ast.Let) and isinstance(r.value, ast.RegexLit)
    assert (r.value.pattern, r.value.flags) == ("a/b\\d", "i")


def test_several_rules_without_separators():
    text = "on h block on h warn rule x on h block let y = 1 on h when y > 0 block"
    items = parse(SourceFile("g.rules", text))[0].items
    assert [type(i).__name__ for i in items] == ["Rule", "Rule", "Rule", "Let", "Rule"]


def test_grammar_file_is_the_one_the_parser_uses():
    from pathlib import Path

    from guardrails.syntax.parser import grammar_text

    repo_grammar = Path(__file__).resolve().parents[1] / "grammar" / "rules.lark"
    assert grammar_text() == repo_grammar.read_text()


def test_grammar_cache_location_is_private(tmp_path, monkeypatch):
    import os
    import stat

    from guardrails.syntax.parser import _cache_file, grammar_text

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = _cache_file(grammar_text())
    assert isinstance(path, str) and path.startswith(str(tmp_path / "guardrails"))
    assert stat.S_IMODE(os.stat(tmp_path / "guardrails").st_mode) == 0o700
    os.chmod(tmp_path / "guardrails", 0o777)
    assert _cache_file(grammar_text()) is False  # others could plant a pickle there
    monkeypatch.setenv("GUARDRAILS_NO_CACHE", "1")
    assert _cache_file(grammar_text()) is False
