# ruff: noqa: RUF001  (the evasive spellings are the point)
"""The literal prefilter: rules whose text test cannot hold are never run, and
nothing else changes (lean, detailed and `Policy.evaluate` runs decide the same)."""

from __future__ import annotations

import dataclasses
import enum

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import guardrails
from guardrails.compile.literals import re2_finder
from guardrails.runtime.engine import HookRunner
from guardrails.runtime.prefilter import _scan

HOOK = "tool_pre_invoke"


class Kind(enum.StrEnum):
    SHELL = "shell"


def counting(programs, calls):
    def wrap(prog):
        def fn(f, c):
            calls.append(prog.id)
            return prog.fn(f, c)

        return dataclasses.replace(prog, fn=fn)

    return [wrap(p) for p in programs]


def test_keys_come_from_the_first_conjunct_or_every_branch_of_an_or():
    policy = guardrails.loads(
        'rule a on generation_pre_call when prompt contains "w1" block\n'
        'rule b on generation_pre_call when "w2" in normalize(prompt) and tokens > 3 block\n'
        'rule c on generation_pre_call when lower(trim(prompt)) startswith "x" or prompt endswith "y" block\n'
        'rule d on generation_pre_call when tokens > 3 and prompt contains "w4" block\n'
        'rule e on generation_pre_call when prompt contains "w5" or tokens > 3 block\n'
    )
    keys = {p.id: p.literal_key for p in policy.programs("generation_pre_call")}
    assert keys == {
        "a": ((("prompt",), (), "contains", "w1"),),
        "b": ((("prompt",), ("normalize",), "contains", "w2"),),
        "c": (
            (("prompt",), ("trim", "lower"), "startswith", "x"),
            (("prompt",), (), "endswith", "y"),
        ),
        "d": None,  # `tokens > 3` may raise before the text test runs
        "e": None,
    }


def test_none_of_10000_phrase_rules_that_cannot_fire_is_called():
    base = guardrails.loads(
        'rule r on generation_pre_call when prompt contains "w0" block'
    ).programs("generation_pre_call")[0]

    def phrase(i: int):
        word = f"w{i}"
        return dataclasses.replace(
            base,
            id=f"r{i}",
            index=i,
            fn=lambda f, c: () if word in f.get("prompt") else None,
            literal_key=((("prompt",), (), "contains", word),),
        )

    calls: list[str] = []
    runner = HookRunner("generation_pre_call", counting([phrase(i) for i in range(10_000)], calls))
    quiet = {"prompt": "please summarise the quarterly report for the board"}
    assert runner.run(quiet, detail=False).outcome == "allow"
    verdict = runner.run(quiet, detail=False, complete=True)
    assert calls == [] and verdict.outcome == "allow"
    assert len(verdict.rules) == 10_000 and {r.verdict for r in verdict.rules} == {"pass"}
    hit = runner.run({"prompt": "say w4321 twice"}, detail=False, complete=True)
    # the first rule whose word is in the text blocks: no later rule runs
    assert calls == ["r4"] and hit.blocked_by == "r4"
    assert [r.verdict for r in hit.rules[:6]] == ["pass"] * 4 + ["block", "skipped"]
    calls.clear()
    runner.run({"prompt": "say w0 w4321"}, detail=False)
    assert calls == ["r0"]
    audit = [dataclasses.replace(p, mode="audit") for p in runner.programs[:5000]]
    HookRunner("generation_pre_call", audit).run({"prompt": "say w4321"}, detail=False)
    assert calls == ["r0", "r4", "r43", "r432", "r4321"]
    calls.clear()
    runner.run({"prompt": Kind.SHELL}, detail=False)  # not exactly a str: the rules decide
    assert len(calls) == 10_000


def test_policy_evaluate_calls_only_the_rules_that_can_fire():
    policy = guardrails.loads(
        "".join(f'rule r{i} on {HOOK} when tool.args.q contains "w{i}" block\n' for i in range(50))
    )
    calls: list[str] = []
    runner = policy.compiled.runners[HOOK]
    policy.compiled.runners[HOOK] = HookRunner(HOOK, counting(runner.programs, calls))
    verdict = policy.evaluate(HOOK, {"tool": {"name": "t", "args": {"q": "a w7 b"}}})
    assert calls == ["r7"] and verdict.blocked_by == "r7"
    assert [r.verdict for r in verdict.rules[6:9]] == ["pass", "block", "skipped"]
    assert verdict.records[0].rule == "r7"


def test_a_change_is_seen_by_later_rules_and_fire_and_forget_sees_the_original():
    policy = guardrails.loads(
        f'rule t on {HOOK} mode transform when tool.args.q contains "a" set tool.args.q = "zz"\n'
        f'rule b on {HOOK} mode concurrent when tool.args.q startswith "zz" block\n'
        f'rule f on {HOOK} mode fire_and_forget when tool.args.q contains "a" warn\n'
    )
    runner = policy.compiled.runners[HOOK]
    facts = {"tool": {"name": "x", "args": {"q": "a"}}}
    lean = runner.run(facts, detail=False)
    assert [(r.rule_id, r.verdict) for r in lean.rules] == [
        ("t", "modify"),
        ("b", "block"),
        ("f", "warn"),
    ]


WORDS = ["sh", "ell", "rm -rf", "ｓｈ", "Sh", "\t", "é", "[.*]", "\ud800", "ss"]
# texts made of the constants' own pieces and their evasive spellings
TEXTS = st.lists(
    st.sampled_from(
        [*WORDS, "s", "h", "ｓ", "ｈ", "\u200b", "SH", "ѕ", " ", "ß", "İ", "e\u0301", "x"]
    ),
    max_size=6,
).map("".join)
VALUES = st.one_of(
    TEXTS, st.none(), st.just(Kind.SHELL), st.lists(TEXTS, max_size=2), st.integers(), st.floats()
)
TEST = st.tuples(
    st.sampled_from(["contains", "in", "startswith", "endswith"]),
    st.sampled_from(["", "lower", "upper", "trim", "normalize", "normalize"]),
    st.sampled_from(["tool.args.q", "tool.args.q", "tool.name"]),
    st.sampled_from(WORDS),
)
RULE = st.tuples(
    st.sampled_from(["", "mode transform", "mode audit", "mode fire_and_forget"]),
    st.lists(TEST, min_size=1, max_size=2),
    st.booleans(),  # a second conjunct that may raise
)


def test_normalized_tests_see_through_evasive_spellings():
    policy = guardrails.loads(
        'rule s on generation_pre_call when normalize(prompt) contains "shell" block\n'
        'rule r on generation_pre_call when normalize(prompt) contains "rm -rf" block\n'
        'rule u on generation_pre_call when lower(prompt) startswith "sudo" block\n'
    )
    for text, rule in [("ｓｈｅｌｌ", "s"), ("s\u200bhell", "s"), ("SHELL", "s"), ("ѕhell", "s"),
                       ("rm\t-rf /", "r"), ("SUDO rm", "u"), ("İt sudo", None)]:  # fmt: skip
        assert policy.evaluate("generation_pre_call", {"prompt": text}).blocked_by == rule


def _test_text(test) -> str:
    op, fn, fact, word = test
    subject = f"{fn}({fact})" if fn else fact
    quoted = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{quoted} in {subject}" if op == "in" else f"{subject} {op} {quoted}"


def _rule_text(i: int, rule) -> str:
    mode, tests, more = rule
    condition = " or ".join(_test_text(t) for t in tests)
    if more:
        condition = f"({condition}) and tool.args.n > 1"
    action = {"mode transform": 'set tool.args.q = "ssh"', "": "block"}.get(mode, "warn")
    return f"rule r{i} on {HOOK} {mode} when {condition} {action}\n"


def _seen(results):
    return [(r.rule_id, r.verdict, r.code, r.reason, r.error, r.changes) for r in results]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(RULE, min_size=1, max_size=6),
    st.lists(st.tuples(VALUES, VALUES, st.sampled_from([0, 5, "x", None])), min_size=1, max_size=8),
)
def test_lean_detailed_and_evaluate_decide_the_same(rules, payloads):
    policy = guardrails.loads("".join(_rule_text(i, r) for i, r in enumerate(rules)))
    runner = policy.compiled.runners[HOOK]
    assert runner.indexed > 0
    for q, name, n in payloads:
        facts = {"tool": {"name": name, "args": {"q": q, "n": n}}}
        full = runner.run(facts, detail=True)
        lean = runner.run(facts, detail=False)
        completed = policy.evaluate(HOOK, facts)
        decided = (full.outcome, full.blocked_by, full.code, full.reason, full.payload)
        assert (lean.outcome, lean.blocked_by, lean.code, lean.reason, lean.payload) == decided
        assert (completed.outcome, completed.blocked_by, completed.code) == decided[:3]
        assert _seen(completed.rules) == _seen(full.rules)
        fired = [r for r in full.rules if r.verdict not in ("pass", "skipped")]
        assert _seen(lean.rules) == _seen(fired)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([*WORDS, "", "a", "\x00", "\\x{41}"]), min_size=1, max_size=20),
       st.lists(TEXTS, max_size=3))  # fmt: skip
def test_the_re2_finder_finds_what_in_finds(literals, texts):
    literals = list(dict.fromkeys(literals))
    finder, scan = re2_finder(literals), _scan(literals)
    for text in ["", *texts, "".join(literals)]:
        assert sorted(finder(text) or ()) == scan(text)


def test_an_evaluate_verdict_pickles_copies_and_compares_as_a_detailed_one():
    import copy
    import pickle

    policy = guardrails.loads(
        "".join(f'rule r{i} on {HOOK} when tool.args.q contains "w{i}" block\n' for i in range(30))
    )
    facts = {"tool": {"name": "t", "args": {"q": "a w7 b"}}}
    verdict = policy.evaluate(HOOK, facts)
    full = policy.compiled.runners[HOOK].run(facts)
    for other in (pickle.loads(pickle.dumps(verdict)), copy.copy(verdict)):
        assert type(other) is guardrails.Verdict and _seen(other.rules) == _seen(full.rules)
    assert _seen(dataclasses.replace(verdict, outcome="allow").rules) == _seen(verdict.rules)
    assert verdict == dataclasses.replace(full, time=verdict.time) == verdict
