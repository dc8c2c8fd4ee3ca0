"""The grammar: what it accepts (with positions on every node) and what it rejects."""

from __future__ import annotations

import dataclasses
import os

import pytest
from lark import Token, Tree

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

    from guardrails.syntax.grammar_cache import cache_path

    monkeypatch.delenv("GUARDRAILS_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = cache_path("k")
    assert path is not None and path.parent == tmp_path / "guardrails"
    assert stat.S_IMODE(os.stat(tmp_path / "guardrails").st_mode) == 0o700
    os.chmod(tmp_path / "guardrails", 0o777)
    assert cache_path("k") is None  # others could plant a cache there
    os.chmod(tmp_path / "guardrails", 0o700)
    monkeypatch.setenv("GUARDRAILS_NO_CACHE", "1")
    assert cache_path("k") is None


def _planted_pickle(marker) -> bytes:
    """What Lark's pickle cache would unpickle: here, code that creates `marker`."""
    import pickle

    class Plant:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return b"0" * 64 + b"\n" + pickle.dumps(Plant())


def test_a_relative_xdg_cache_home_is_ignored_and_a_planted_cache_never_read(tmp_path):
    """A repository cannot choose where `guardrails check`, run inside it, reads its cache."""
    import hashlib
    import os
    import subprocess
    import sys

    import lark

    from guardrails.syntax.parser import grammar_text

    repo, home = tmp_path / "repo", tmp_path / "home"
    home.mkdir()
    planted = repo / "cache" / "guardrails"
    planted.mkdir(parents=True, mode=0o700)
    (repo / "r.rules").write_text("rule r on generation_pre_call when tokens > 1 block\n")
    key = hashlib.sha256(f"{lark.__version__}\0{grammar_text()}".encode()).hexdigest()[:24]
    marker = tmp_path / "pwned"
    (planted / f"rules-grammar-{key}.lark").write_bytes(_planted_pickle(marker))
    before = sorted(p.name for p in planted.iterdir())
    env = {k: v for k, v in os.environ.items() if k != "GUARDRAILS_NO_CACHE"}
    env.update(XDG_CACHE_HOME="cache", HOME=str(home))
    done = subprocess.run([sys.executable, "-m", "guardrails", "check", "r.rules"],
                          cwd=repo, env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert sorted(p.name for p in planted.iterdir()) == before  # neither read nor written
    assert list((home / ".cache" / "guardrails").iterdir())  # the XDG default instead


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A fresh per-user cache directory: (grammar, key, path)."""
    from guardrails.syntax.grammar_cache import cache_key, cache_path
    from guardrails.syntax.parser import _OPTIONS, grammar_text

    monkeypatch.delenv("GUARDRAILS_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    grammar = grammar_text()
    key = cache_key(grammar, _OPTIONS)
    return grammar, key, cache_path(key)


@pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")
def test_a_pickle_planted_where_larks_cache_was_is_never_unpickled(tmp_path):
    """As `guardrails check` runs: someone else's file in our (private) cache dir."""
    import hashlib
    import subprocess
    import sys

    import lark

    from guardrails.syntax.parser import grammar_text

    cache = tmp_path / "xdg" / "guardrails"
    cache.mkdir(parents=True, mode=0o700)
    key = hashlib.sha256(f"{lark.__version__}\0{grammar_text()}".encode()).hexdigest()[:24]
    planted, marker = cache / f"rules-grammar-{key}.lark", tmp_path / "pwned"
    planted.write_bytes(_planted_pickle(marker))
    os.chown(planted, 65534, 65534)
    (tmp_path / "r.rules").write_text("rule r on generation_pre_call when tokens > 1 block\n")
    env = {k: v for k, v in os.environ.items() if k != "GUARDRAILS_NO_CACHE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    subprocess.run([sys.executable, "-m", "guardrails", "check", str(tmp_path / "r.rules")],
                   env=env, check=True, capture_output=True)  # fmt: skip
    assert not marker.exists()


@pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")
def test_a_cache_file_owned_by_another_user_is_refused(private_cache):
    from guardrails.syntax.grammar_cache import load, save
    from guardrails.syntax.parser import build_parser, cached_parser

    grammar, key, path = private_cache
    save(path, key, build_parser(grammar))
    assert load(path, key) is not None
    os.chown(path, 65534, 65534)
    assert load(path, key) is None
    os.chown(path, os.getuid(), os.getgid())
    os.chmod(path, 0o666)
    assert load(path, key) is None  # ours, but anyone could have rewritten it
    os.chmod(path, 0o600)
    assert load(path, key) is not None
    os.chown(path, 65534, 65534)
    cached_parser(grammar)  # refuses it, builds, and puts its own in its place
    assert path.stat().st_uid == os.getuid() and load(path, key) is not None


def _positions(tree: Tree) -> list[tuple]:
    out = []
    for node in tree.iter_subtrees():
        m = node.meta
        out.append((node.data, *((m.line, m.column, m.end_pos) if not m.empty else ())))
    out += [(t.type, t.value, t.line, t.column, t.start_pos, t.end_pos) for t in tree.scan_values(
        lambda v: isinstance(v, Token))]  # fmt: skip
    return out


def test_the_cache_is_json_and_round_trips_to_the_same_parser(private_cache):
    import json
    from pathlib import Path

    from lark.exceptions import UnexpectedInput

    from guardrails.syntax.grammar_cache import load, save
    from guardrails.syntax.parser import build_parser

    grammar, key, path = private_cache
    fresh = build_parser(grammar)
    save(path, key, fresh)
    assert json.loads(path.read_text())["key"] == key  # data, not a pickle
    cached = load(path, key)
    assert cached is not None
    root = Path(__file__).resolve().parents[1]
    texts = [p.read_text() for p in sorted((root / "rules").rglob("*.rules"))]
    assert texts
    for text in texts:
        a, b = fresh.parse(text), cached.parse(text)
        assert a == b and _positions(a) == _positions(b)
    for bad in ("rule x on h when", "rule on", "let = 3", "rule r on h when a > block"):
        errors = []
        for parser in (fresh, cached):
            with pytest.raises(UnexpectedInput) as info:
                parser.parse(bad)
            errors.append((type(info.value), str(info.value), info.value.expected))  # type: ignore[attr-defined]
        assert errors[0] == errors[1]


def test_a_damaged_cache_is_rebuilt(private_cache):
    from guardrails.syntax.grammar_cache import load
    from guardrails.syntax.parser import cached_parser

    grammar, key, path = private_cache
    cached_parser(grammar)
    good = path.read_text()
    for damage in ("", "{not json", good[: len(good) // 2], '{"format": 1}', '[1, 2]',
                   good.replace('"memo":{', '"memo":{"x":0,', 1)):  # fmt: skip
        path.write_text(damage)
        assert load(path, key) is None
        parser = cached_parser(grammar)
        assert parser.parse("rule r on h when x > 1 block\n").data == "start"
        assert load(path, key) is not None  # written afresh
