"""The equality index: rules that cannot match are never run, and nothing else changes."""

from __future__ import annotations

import dataclasses
import random

import guardrails
from guardrails.adapters.cpex.groups import groups
from guardrails.runtime.engine import HookRunner

RULES = "".join(
    f'rule t{i} on tool_pre_invoke when tool.name == "tool_{i}" and tool.args.n > {i} block "r{i}" code C{i}\n'
    for i in range(300)
) + (
    'rule listed on tool_pre_invoke priority 50 when tool.name in ["a", "b"] warn\n'
    'rule first_not_eq on tool_pre_invoke when tool.args.n > 100 and tool.name == "x" warn\n'
    "rule numeric on tool_pre_invoke when tool.args.n == 7 warn\n"
    'rule audit_x on tool_pre_invoke mode audit when tool.name == "tool_5" block\n'
    'rule faf on tool_pre_invoke mode fire_and_forget when tool.name == "tool_5" warn\n'
)


def runner() -> HookRunner:
    policy = guardrails.loads(RULES)
    return HookRunner(
        "tool_pre_invoke", policy.programs("tool_pre_invoke"), policy.shadowed, policy.ruleset_hash
    )


def test_rules_with_a_leading_equality_are_indexed():
    r = runner()
    assert r.indexed == 300 + 4  # all but first_not_eq
    ids = lambda facts: [r.programs[i].id for i in r.candidates(facts)]  # noqa: E731
    assert ids({"tool": {"name": "tool_5", "args": {}}}) == ["t5", "first_not_eq", "audit_x", "faf"]
    assert ids({"tool": {"name": "b"}}) == ["listed", "first_not_eq"]
    assert ids({"tool": {"name": "zzz"}}) == ["first_not_eq"]
    assert ids({"tool": {"args": {"n": 7.0}}}) == ["first_not_eq", "numeric"]  # 7.0 == 7
    assert ids({"tool": {"args": {"n": True}}}) == ["first_not_eq"]  # true is not 1


def test_lean_mode_never_calls_rules_the_index_rules_out():
    policy = guardrails.loads(RULES)
    calls: list[str] = []

    def counting(prog):
        def fn(f, c):
            calls.append(prog.id)
            return prog.fn(f, c)

        return dataclasses.replace(prog, fn=fn)

    r = HookRunner("tool_pre_invoke", [counting(p) for p in policy.programs("tool_pre_invoke")])
    facts = {"tool": {"name": "tool_42", "args": {"n": 10}}}
    r.run(facts, detail=False)
    assert calls == ["t42", "first_not_eq"]
    calls.clear()
    r.run(facts, detail=True)
    assert len(calls) == len(r.programs)


def test_lean_and_detailed_runs_decide_the_same():
    r = runner()
    rng = random.Random(1234)
    names = [f"tool_{i}" for i in range(0, 320, 7)] + ["a", "b", "x", None, 5, True]
    for _ in range(500):
        args = rng.choice([{}, {"n": rng.choice([0, 7, 7.0, 50, 150, 400, "str", None, True])}])
        facts = {"tool": {"name": rng.choice(names), "args": args}}
        full = r.run(facts, detail=True)
        lean = r.run(facts, detail=False)
        assert (lean.outcome, lean.blocked_by, lean.code) == (
            full.outcome,
            full.blocked_by,
            full.code,
        )
        fired = [(x.rule_id, x.verdict) for x in full.rules if x.verdict not in ("pass", "skipped")]
        assert [(x.rule_id, x.verdict) for x in lean.rules] == fired


def test_a_nan_fact_is_never_ruled_out_by_the_index():
    """`temperature == 1.0` on NaN is a type error in the full run; the lean run must
    not skip the rule (and so allow) because NaN matches no key."""
    import math

    text = "".join(
        f"rule r{i} on generation_pre_call when model_options.temperature == {i} block\n"
        for i in range(5)
    )
    policy = guardrails.loads(text)
    facts = {"model_options": {"temperature": math.nan}}
    full = policy.evaluate("generation_pre_call", facts)
    runner = groups(policy.compiled)[("sequential", 100, 100, "fail")]["generation_pre_call"]
    lean = runner.run(facts, detail=False)
    assert full.outcome == lean.outcome == "block"
    assert full.blocked_by == lean.blocked_by == "r0" and lean.rules[0].verdict == "error"
