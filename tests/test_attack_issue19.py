# ruff: noqa: RUF001  (the look-alike spellings are the point)
"""Attacks on the literal prefilter, the equality index and the compiled-ruleset
cache: each test is a way through a guardrail, a crash, or a cached load that could
run code or decide differently from a cold one, found and closed."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import guardrails

HOOK = "tool_pre_invoke"


def _decisions(policy: guardrails.Policy, facts: dict) -> tuple[tuple[object, ...], ...]:
    """What a lean call (prefilter and index on) and a detailed call of every rule
    decide: the same, or a rule was left out that would have acted."""
    runner = policy.compiled.runners[HOOK]
    full, lean = runner.run(facts, detail=True), policy.evaluate(HOOK, facts)
    return tuple((v.outcome, v.blocked_by, v.code, v.reason) for v in (full, lean))


# ---- the equality index ----


@pytest.mark.parametrize(
    "condition, value",
    [
        ('tool.args.tags == ["a"]', ["a"]),
        ('["a", "b"] == tool.args.tags', ("a", "b")),
        ('tool.args.tags == ["a"] and tool.name == "t"', ["a"]),
    ],
)
def test_a_list_equality_is_not_indexed_as_membership(condition, value):
    """`tags == ["a"]` holds for the list ["a"]: the index took the list literal for
    the keys of `tags in ["a"]` and never ran the rule on a list."""
    policy = guardrails.loads(f"rule r on {HOOK} when {condition} block\n", cache=False)
    full, lean = _decisions(policy, {"tool": {"name": "t", "args": {"tags": value}}})
    assert full[:2] == ("block", "r") and lean == full


# ---- facts that raise while the selector reads them ----


class Raising(Mapping[str, object]):
    """A host mapping whose reads fail (a lazy payload whose backend is down)."""

    def __getitem__(self, key: str) -> object:
        raise RuntimeError("backend down")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, key: str, default: object = None) -> object:
        raise RuntimeError("backend down")


@pytest.mark.parametrize(
    "condition", ['tool.args.q contains "x"', 'tool.args.q == "x"', 'tool.args.q startswith "x"']
)
def test_a_fact_that_raises_fails_closed_in_lean_calls_too(condition):
    """The rule's own read raises and fails closed; the selector's read of the same
    path raised out of `Policy.evaluate` (documented never to raise for bad facts)."""
    policy = guardrails.loads(f"rule r on {HOOK} when {condition} block\n", cache=False)
    facts = {"tool": {"name": "t", "args": Raising()}}
    full, lean = _decisions(policy, facts)
    assert full[:3] == ("block", "r", "GUARDRAIL_ERROR") and lean == full


# ---- a differential test: every rule run against only the rules selected ----

# constants that case folding, NFKC and look-alike tables treat specially
LITERALS = ["sh", "ss", "ß", "ẞ", "k", "K", "i̇", "İ", "ｓｈ", "a", "", "rm -rf", "é", "e\u0301"]
# spellings of a text an attacker might send instead of it
VARIANTS = [
    lambda s: s,
    str.upper,
    str.lower,
    str.casefold,
    str.swapcase,
    lambda s: s.replace("k", "\u212a").replace("K", "\u212a"),  # the Kelvin sign
    lambda s: s.replace("i", "İ").replace("s", "ſ"),  # dotted capital I, long s
    lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s),  # fullwidth
    "\u200b".join,  # zero-width spaces between letters
    lambda s: unicodedata.normalize("NFD", s),
    lambda s: f"  x{s}y ",
]
FACTS = ["tool.args.q", "tool.args.q", "tool.args.items[0]", "tool.args.obj.text", "tool.name"]
FUNCTIONS = ["", "", "lower", "upper", "trim", "normalize"]


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text_test(op: str, fn: str, fact: str, literal: str) -> str:
    subject = f"{fn}({fact})" if fn else fact
    if op == "in":
        return f"{_quoted(literal)} in {subject}"
    if op == "matches":
        return f"{subject} matches /{re.escape(literal) or 'x'}/i"
    return f"{subject} {op} {_quoted(literal)}"


CONSTANTS = ['"sh"', '"ß"', "1", "2.5", "true", '["sh"]', '["ß", 1]', '"K"']
ATOM = st.one_of(
    st.builds(
        _text_test,
        st.sampled_from(["contains", "in", "startswith", "endswith", "matches"]),
        st.sampled_from(FUNCTIONS),
        st.sampled_from(FACTS),
        st.sampled_from(LITERALS),
    ),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(FACTS[:4]),
        st.sampled_from(["==", "!=", "==", "in"]),
        st.sampled_from(CONSTANTS),
    ).filter(lambda t: " in " not in t or t.endswith("]")),
)
CONDITION = st.recursive(
    ATOM,
    lambda inner: st.one_of(
        st.builds("({} and {})".format, inner, inner),
        st.builds("({} or {})".format, inner, inner),
        st.builds("not ({})".format, inner),
    ),
    max_leaves=3,
)
RULE = st.tuples(
    st.sampled_from(["", "", "mode audit", "mode transform"]),
    CONDITION,
    st.one_of(st.none(), ATOM),  # an `unless`
)


class Word(enum.StrEnum):
    SH = "sh"


class Model(BaseModel):
    text: object = None


class Loose(BaseModel, extra="allow"):
    """cpex's StructuredData: every field an extra one."""


@dataclasses.dataclass
class Record:
    text: object = None


def _values(texts: list[str]) -> st.SearchStrategy[object]:
    text = st.builds(lambda t, f: f(t), st.sampled_from(texts), st.sampled_from(VARIANTS))
    scalar = st.one_of(
        text,
        text,
        st.sampled_from([None, 1, 1.0, 2.5, True, 0, Word.SH, b"sh", Raising()]),
    )
    # the list constants of CONSTANTS, as lists and tuples
    lists = st.sampled_from([["sh"], ("sh",), ["ß", 1], ("ß", 1.0), ["ß"]])
    return st.one_of(
        scalar,
        lists,
        st.lists(scalar, max_size=2),
        st.lists(scalar, max_size=2).map(tuple),
        st.builds(Model, text=scalar),
        st.builds(Record, text=scalar),
        st.builds(lambda v: Loose(text=v), scalar),
        st.builds(lambda v: {"text": v}, scalar),
    )


def _rule_source(i: int, rule: tuple[str, str, str | None]) -> str:
    mode, condition, unless = rule
    action = 'set tool.args.q = "ssh"' if mode == "mode transform" else "block"
    clause = f" unless {unless}" if unless else ""
    return f"rule r{i} on {HOOK} {mode} when {condition}{clause} {action}\n"


def _seen(verdict: guardrails.Verdict) -> list[tuple[object, ...]]:
    return [(r.rule_id, r.verdict, r.code, r.reason, r.error) for r in verdict.rules]


@settings(
    max_examples=int(os.environ.get("ATTACK_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(RULE, min_size=1, max_size=20), st.data())
def test_selected_rules_decide_as_every_rule_does(rules, data):
    """A lean call (the equality index and the literal prefilter choose the rules)
    against a detailed call of every rule, over payloads spelt from the rules' own
    constants in the ways Unicode lets a text be respelt, and of every kind of value
    a host may hand over."""
    text = "".join(_rule_source(i, r) for i, r in enumerate(rules))
    try:
        policy = guardrails.loads(text, cache=False, time_budget_ms=None)
    except guardrails.RulesError:  # a combination the checker refuses (a type error)
        assume(False)
        return
    runner = policy.compiled.runners[HOOK]
    values = _values([lit for lit in LITERALS if lit in text] or ["sh"])
    for _ in range(6):
        args = {
            "q": data.draw(values),
            "items": data.draw(st.lists(values, max_size=2)),
            "obj": data.draw(st.one_of(values, st.just(Raising()))),
        }
        name = data.draw(
            st.builds(lambda t, f: f(t), st.sampled_from(LITERALS), st.sampled_from(VARIANTS))
        )
        facts = {"tool": {"name": name, "args": args}}
        full = runner.run(facts, detail=True)
        lean = runner.run(facts, detail=False)
        completed = policy.evaluate(HOOK, facts)
        decided = (full.outcome, full.blocked_by, full.code, full.reason)
        assert (lean.outcome, lean.blocked_by, lean.code, lean.reason) == decided, facts
        assert (completed.outcome, completed.blocked_by, completed.code) == decided[:3], facts
        assert _seen(completed) == _seen(full), facts
        assert repr(lean.payload) == repr(full.payload)


# ---- the compiled-ruleset cache ----

ROOT = Path(__file__).resolve().parents[1]
# code a planted entry could carry that has no `__` in it: each imports `os` and sets
# the variable below when it is linked (the loader's frame has real builtins)
_IMPORT = "get('\\x5f\\x5fimport\\x5f\\x5f')('os')"
ESCAPES = {
    # a running generator's frame, and the frames behind it
    "frame": (
        f"_g0 = (_g0.gi_frame.f_back.f_back.f_builtins.{_IMPORT}.environ.update("
        "GUARDRAILS_ATTACK='ran') for _x in (1,))\n_y0 = [*_g0]\n"
    ),
    # Python reads a fullwidth low line in an identifier as `_` (NFKC)
    "fullwidth": (
        "_y0 = [_c0._\uff3finit\uff3f\uff3f._\uff3fglobals\uff3f\uff3f['environ'].update("
        "GUARDRAILS_ATTACK='ran') for _c0 in ()._\uff3fclass\uff3f\uff3f._\uff3fbase\uff3f\uff3f"
        "._\uff3fsubclasses\uff3f\uff3f() if _c0._\uff3fname\uff3f\uff3f == '_wrap_close']\n"
    ),
    # class patterns read attributes by name, with no attribute expression at all
    "match": (
        "def _p99():\n"
        "    match _g0:\n"
        "        case _t1(gi_frame=_f0):\n"
        "            pass\n"
        "    _t2 = type(_f0)\n"
        "    match _f0:\n"
        "        case _t2(f_back=_t2(f_back=_t2(f_builtins=_b0))):\n"
        "            pass\n"
        f"    _o0 = _b0.{_IMPORT}\n"
        "    _t3 = type(_o0)\n"
        "    match _o0:\n"
        "        case _t3(environ=_e0):\n"
        "            _e0['GUARDRAILS_ATTACK'] = 'ran'\n"
        "_g0 = (_p99() for _x in (1,))\n_t1 = type(_g0)\n_y0 = [*_g0]\n"
    ),
}


def _entry_for(cache: Path, text: str) -> Path:
    policy = guardrails.loads(text, "k.rules", cache=cache)
    assert policy.compiled.cache_entry is not None
    return policy.compiled.cache_entry


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_a_planted_entry_without_double_underscores_runs_no_code(tmp_path, monkeypatch, escape):
    """An entry only its owner can write is still checked as the generator's own code:
    the double-underscore test alone let each of these run."""
    monkeypatch.delenv("GUARDRAILS_ATTACK", raising=False)
    text = 'on tool_pre_invoke when tool.name == "rm" block "no rm"\n'
    entry = _entry_for(tmp_path, text)
    data = json.loads(entry.read_text())
    data["source"] += "\n" + ESCAPES[escape]
    assert "__" not in data["source"]
    entry.write_text(json.dumps(data))
    policy = guardrails.loads(text, "k.rules", cache=tmp_path)
    assert os.environ.get("GUARDRAILS_ATTACK") is None
    assert not policy.compiled.from_cache
    assert policy.evaluate(HOOK, {"tool": {"name": "rm"}}).reason == "no rm"


def test_a_constant_may_not_name_what_generated_code_reads():
    """Constants are linked as globals: one named like an attribute would make that
    attribute a name the source check allows."""
    from guardrails.compile.cache import _generated

    assert _generated("_k0 = 1\n", {"_k0": 1})
    assert not _generated("_k0 = 1\n", {"gi_frame": 1})


def test_every_ruleset_here_is_cached_and_a_hit_decides_the_corpus_as_a_cold_load(
    tmp_path, monkeypatch
):
    """The differential test of the cache: the project's corpus through the rules
    loaded cold and from an entry; and every ruleset the project ships is one the
    source check accepts (or the check would silently cost every load its cache)."""
    from guardrails.tooling import corpus

    monkeypatch.chdir(ROOT)
    for paths in (["rules"], ["examples/policies"]):
        guardrails.load(paths, cache=tmp_path)
        assert guardrails.load(paths, cache=tmp_path).compiled.from_cache, paths
    # what the project's rules may not use: string methods, a `filter` loop, a host function
    text = (
        'rule a on tool_pre_invoke when tool.args.q startswith "x" or tool.args.q endswith "y" block\n'
        'rule b on agent_pre_invoke when len(filter(m in messages: m.role == "user")) > 3 block\n'
        "rule c on tool_pre_invoke when reputation(tool.name) block\n"
    )

    def reputation(name: str) -> bool:
        return False

    guardrails.loads(text, cache=tmp_path, functions=[reputation])
    assert guardrails.loads(text, cache=tmp_path, functions=[reputation]).compiled.from_cache
    cold = corpus.load_policy("rules", cache=False)
    corpus.load_policy("rules", cache=tmp_path)  # its judge is a host function: a key of its own
    hit = corpus.load_policy("rules", cache=tmp_path)
    assert hit.compiled.from_cache and not cold.compiled.from_cache
    cases = [
        corpus.load_case(path, hook) for hook, path in corpus.iter_cases(ROOT / "tests/corpus")
    ]
    assert len(cases) > 100
    for case in cases:
        expected = corpus.render(corpus.run_case(cold, case))
        assert corpus.render(corpus.run_case(hit, case)) == expected, case.id


def test_a_detector_missing_here_is_an_error_from_the_cache_too(tmp_path, monkeypatch):
    """An entry built where the `secrets` extra works, linked where it does not (a
    slimmer runtime image): a cold load refuses the rules (GR0275), the cached one
    loaded them and its `on_error ignore` rule then let every call through."""
    from guardrails.check import detectors

    text = (
        "rule no_keys on tool_pre_invoke on_error ignore\n"
        "  when len(secrets(tool.args)) > 0 block\n"
    )
    assert not guardrails.loads(text, "k.rules", cache=tmp_path).compiled.from_cache

    def broken(detector: object) -> object:
        raise ImportError("No module named 'detect_secrets'")

    monkeypatch.setattr(detectors, "_loaded", broken)
    with pytest.raises(guardrails.RulesError, match="GR0275"):
        guardrails.loads(text, "k.rules", cache=False)
    with pytest.raises(guardrails.RulesError, match="GR0275"):
        guardrails.loads(text, "k.rules", cache=tmp_path)


def test_an_entry_of_other_rules_under_this_rules_name_is_a_cold_load(tmp_path):
    """A permissive ruleset's entry copied over a strict one's: its key is inside it."""
    strict = 'on tool_pre_invoke when tool.name == "rm" block "no rm"\n'
    lax = 'on tool_pre_invoke when tool.name == "nothing" block "no rm"\n'
    target = _entry_for(tmp_path, strict)
    target.write_bytes(_entry_for(tmp_path, lax).read_bytes())
    policy = guardrails.loads(strict, "k.rules", cache=tmp_path)
    assert not policy.compiled.from_cache
    assert policy.evaluate(HOOK, {"tool": {"name": "rm"}}).blocked_by is not None


def test_links_to_entries_or_cache_directories_are_not_followed(tmp_path):
    """Someone who can make links where the cache is read (a shared parent) points them
    at entries of their choosing: neither a linked entry nor a linked directory is used."""
    from guardrails.compile import cache as rulecache

    text = 'on tool_pre_invoke when tool.name == "rm" block "no rm"\n'
    real = tmp_path / "real"
    entry = _entry_for(real, text)
    linked_dir = tmp_path / "linked"
    linked_dir.symlink_to(real, target_is_directory=True)
    assert rulecache.directory(linked_dir) is None
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    (other / entry.name).symlink_to(entry)
    assert not guardrails.loads(text, "k.rules", cache=other).compiled.from_cache
