"""W1-W4, W9 and W12: rule evaluation against hand-written Python and peers, from one run.

    python benchmarks/bench_eval.py [--calls N] [--rounds R]

For each workload it prints the median per-call time and the ratio to a hand-written
Python function doing the same check, measured in the same run; every case, the
baseline included, is called the same way (a lambda passing the facts). "ours: compiled rule"
is the rule's generated function (what the engine calls per rule); "ours: engine,
lean" is a whole hook call as cpex plugins run it (`HookRunner.run(detail=False)`:
facts copy, index lookup, rules, a Verdict); "ours: Policy.evaluate" adds a result
for every rule. Peers (simpleeval, rule-engine, CEL's Rust binding `cel`, cel-python,
cedarpy) run when installed (`pip install -e '.[bench]'`), each with its expression
compiled once outside the timed loop.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import measure, report

import guardrails
from guardrails.runtime.engine import HookRunner

Case = Callable[[], object]


def ours(rule_text: str, hook: str, facts: dict[str, Any]) -> dict[str, Case]:
    policy = guardrails.loads(rule_text, "bench.rules")
    prog = policy.programs(hook)[0]
    runner = HookRunner(hook, policy.programs(hook), policy.shadowed, policy.ruleset_hash)
    fn = prog.fn
    return {
        # a fresh call cache per call, as the engine gives each hook call (a shared one
        # would time derived facts such as `tokens` only on the first call)
        "ours: compiled rule": lambda: fn(facts, {}),
        "ours: engine, lean (HookRunner.run)": lambda: runner.run(facts, detail=False),
        "ours: Policy.evaluate": lambda: policy.evaluate(hook, facts),
    }


def peers(simple: str | None, rule: str | None, cel_expr: str | None, cedar_when: str | None,
          facts: dict[str, Any], expected: bool, cedar_context: dict[str, Any] | None = None,
          ) -> dict[str, Case]:  # fmt: skip
    """The peers that give the right answer on `facts`: a peer that errs (Cedar has no
    floats) or answers wrongly is reported and not timed, never timed on its error path."""
    found = _peers(simple, rule, cel_expr, cedar_when, facts, cedar_context)
    out: dict[str, Case] = {}
    for name, (case, answer) in found.items():
        got = answer(case())
        if got is expected:
            out[name] = case
        else:
            print(f"    ({name}: answers {got!r}, not {expected!r}: not timed)")
    return out


def _peers(simple: str | None, rule: str | None, cel_expr: str | None, cedar_when: str | None,
           facts: dict[str, Any], cedar_context: dict[str, Any] | None,
           ) -> dict[str, tuple[Case, Callable[[Any], Any]]]:  # fmt: skip
    out: dict[str, tuple[Case, Callable[[Any], Any]]] = {}
    if simple:
        try:
            from simpleeval import SimpleEval

            evaluator = SimpleEval(names=facts)
            parsed = evaluator.parse(simple)
            evaluator.eval(simple, previously_parsed=parsed)
            out["simpleeval"] = (lambda: evaluator.eval(simple, previously_parsed=parsed), bool)
        except Exception as err:  # a peer that cannot run the check is reported, not fatal
            print(f"    (simpleeval: {type(err).__name__}: {err})")
    if rule:
        try:
            import rule_engine

            compiled_rule = rule_engine.Rule(rule)
            compiled_rule.matches(facts)
            out["rule-engine"] = (lambda: compiled_rule.matches(facts), bool)
        except Exception as err:
            print(f"    (rule-engine: {type(err).__name__}: {err})")
    if cel_expr:
        try:
            import cel

            program = cel.compile(cel_expr)
            program.execute(facts)
            out["CEL, Rust binding (cel), from a dict"] = (lambda: program.execute(facts), _same)
        except Exception as err:
            print(f"    (cel: {type(err).__name__}: {err})")
        try:
            import celpy

            env = celpy.Environment()
            prgm = env.program(env.compile(cel_expr))
            prgm.evaluate(celpy.json_to_cel(facts))
            out["cel-python (incl. dict conversion)"] = (
                lambda: prgm.evaluate(celpy.json_to_cel(facts)),
                lambda v: bool(v) if type(v).__name__ == "BoolType" else v,
            )
        except Exception as err:
            print(f"    (cel-python: {type(err).__name__}: {err})")
    if cedar_when:
        try:
            import cedarpy

            policies = f"permit(principal, action, resource) when {{ {cedar_when} }};"
            request = {"principal": 'User::"u"', "action": 'Action::"call"',
                       "resource": 'Hook::"h"', "context": cedar_context or facts}  # fmt: skip
            cedarpy.is_authorized(request, policies, [])
            out["cedarpy"] = (
                lambda: cedarpy.is_authorized(request, policies, []),
                lambda r: {"Allow": True, "Deny": False}.get(r.decision.name, r.decision),
            )
        except Exception as err:
            print(f"    (cedarpy: {type(err).__name__}: {err})")
    return out


def _same(value: Any) -> Any:
    return value


def w1(calls: int, rounds: int) -> None:
    facts = {"tokens": 3000}

    def hand(p: dict[str, Any] = facts) -> bool:
        return p["tokens"] > 4000

    cases: dict[str, Case] = {"hand-written Python": lambda: hand(facts)}
    cases |= ours(
        "rule r on generation_pre_call when tokens > 4000 block", "generation_pre_call", facts
    )
    cases |= peers(
        "tokens > 4000", "tokens > 4000", "tokens > 4000", "context.tokens > 4000", facts, False
    )
    report(
        "W1 tokens > 4000",
        measure(cases, calls, rounds),
        "hand-written Python",
        "compiled rule <= 1.5x",
    )


def w2(calls: int, rounds: int) -> None:
    facts = {"tokens": 5000, "model_options": {"temperature": 0.9}, "user": {"role": "guest"}}

    def hand(p: dict[str, Any] = facts) -> bool:
        return (
            p["tokens"] > 4000
            and p["model_options"]["temperature"] > 0.7
            and not (p["user"]["role"] == "admin")  # noqa: SIM201 (as the rule says it)
        )

    rule = ('rule r on generation_pre_call when tokens > 4000 and model_options.temperature > 0.7 '
            'and not (user.role == "admin") block')  # fmt: skip
    cases: dict[str, Case] = {"hand-written Python": lambda: hand(facts)}
    cases |= ours(rule, "generation_pre_call", facts)
    cases |= peers(
        "tokens > 4000 and model_options['temperature'] > 0.7 and not (user['role'] == 'admin')",
        "tokens > 4000 and model_options['temperature'] > 0.7 and not (user['role'] == 'admin')",
        "tokens > 4000 && model_options.temperature > 0.7 && !(user.role == 'admin')",
        'context.tokens > 4000 && context.model_options.temperature.greaterThan(decimal("0.7"))'
        ' && !(context.user.role == "admin")',
        facts,
        True,
        # Cedar has no floats: its decimal extension, from JSON
        {**facts, "model_options": {"temperature": {"__extn": {"fn": "decimal", "arg": "0.9"}}}},
    )
    report(
        "W2 3-clause compound",
        measure(cases, calls, rounds),
        "hand-written Python",
        "compiled rule <= 1.5x",
    )


def w3(calls: int, rounds: int) -> None:
    base = "Please summarise the quarterly report for the board, focusing on revenue. "
    prompt = (base * 30)[:2048]
    facts = {"prompt": prompt}
    ssn = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")

    def hand(p: dict[str, Any] = facts) -> bool:
        text = p["prompt"]
        return "ignore previous instructions" in text.lower() or ssn.search(text) is not None

    rule = ('rule r on generation_pre_call when lower(prompt) contains "ignore previous instructions" '
            r"or prompt matches /\b\d{3}-\d{2}-\d{4}\b/ block")  # fmt: skip
    cases: dict[str, Case] = {"hand-written Python (re)": lambda: hand(facts)}
    cases |= ours(rule, "generation_pre_call", facts)
    cases |= peers(None, None,
                   r"prompt.lowerAscii().contains('ignore previous instructions') || prompt.matches('\\b\\d{3}-\\d{2}-\\d{4}\\b')",
                   None, facts, hand(facts))  # fmt: skip
    report("W3 phrase + regex on 2 KB of prompt", measure(cases, calls, rounds),
           "hand-written Python (re)", "compiled rule <= 1.2x")  # fmt: skip


def w4(calls: int, rounds: int) -> None:
    n = 1000
    table = [(f"tool_{i}", "guest") for i in range(n)]
    index = {name: i for i, (name, _) in enumerate(table)}
    facts = {"tool": {"name": "tool_500", "args": {}}, "user": {"role": "guest"}}

    def linear(p: dict[str, Any] = facts) -> int | None:
        name, role = p["tool"]["name"], p["user"]["role"]
        for i, (want_name, want_role) in enumerate(table):
            if name == want_name and role == want_role:
                return i
        return None

    def indexed(p: dict[str, Any] = facts) -> int | None:
        i = index.get(p["tool"]["name"])
        return i if i is not None and p["user"]["role"] == table[i][1] else None

    def rules(mode: str, dup: int) -> HookRunner:
        text = "".join(
            f'rule r{i}_{k} on tool_pre_invoke mode {mode} when tool.name == "tool_{i}" and user.role == "guest" block\n'
            for i in range(n // dup) for k in range(dup)
        )  # fmt: skip
        policy = guardrails.loads(text, "w4.rules")
        return HookRunner(
            "tool_pre_invoke",
            policy.programs("tool_pre_invoke"),
            policy.shadowed,
            policy.ruleset_hash,
        )

    first = rules("sequential", 1)  # a block stops at the first match
    every = rules("audit", 1)  # audit rules never stop: every rule is considered
    tenfold = rules("audit", 10)  # 100 names x 10 rules: a payload matches 10 rules
    ten_facts = {"tool": {"name": "tool_50", "args": {}}, "user": {"role": "guest"}}
    assert first.run(facts, detail=False).blocked_by == "r500_0"
    assert len(every.run(facts, detail=False).would_block) == 1
    assert len(tenfold.run(ten_facts, detail=False).would_block) == 10
    cases: dict[str, Case] = {
        "hand-written linear scan": lambda: linear(facts),
        "hand-written dict index": lambda: indexed(facts),
        "ours: first match (1000 sequential rules)": lambda: first.run(facts, detail=False),
        "ours: all matches (1000 audit rules)": lambda: every.run(facts, detail=False),
        "ours: all matches, 10 of them fire": lambda: tenfold.run(ten_facts, detail=False),
    }
    report("W4 1000 equality-keyed rules", measure(cases, max(1000, calls // 10), rounds),
           "hand-written linear scan", "<= 2 µs first match, <= 3 µs all matches")  # fmt: skip


def w9(calls: int, rounds: int) -> None:
    """A quantifier: is any user message of a 20-message conversation a take-over?"""
    phrase = "ignore previous instructions"
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "text": f"turn {i}: tell me more"}
        for i in range(20)
    ]
    facts = {"messages": messages}

    def hand(p: dict[str, Any] = facts) -> bool:
        for m in p["messages"]:  # noqa: SIM110  (a plain loop: the fastest Python has)
            if m["role"] == "user" and phrase in m["text"]:
                return True
        return False

    rule = ("rule r on before_llm when any m in messages: "
            f'm.role == "user" and m.text contains "{phrase}" block')  # fmt: skip
    cases: dict[str, Case] = {"hand-written Python loop": lambda: hand(facts)}
    cases |= ours(rule, "before_llm", facts)
    cases |= peers(None, None,
                   f"messages.exists(m, m.role == 'user' && m.text.contains('{phrase}'))",
                   None, facts, hand(facts))  # fmt: skip
    report("W9 any over 20 messages (no match: every element tested)",
           measure(cases, max(1000, calls // 4), rounds), "hand-written Python loop",
           "compiled rule <= 3x")  # fmt: skip


def w12(calls: int, rounds: int) -> None:
    """Phrase rules that cannot fire: 10 against 10,000 (the literal prefilter)."""
    facts = {"prompt": "Please summarise the quarterly report for the board, focusing on revenue."}
    hook = "generation_pre_call"

    def phrases(n: int) -> tuple[guardrails.Policy, HookRunner]:
        text = "".join(f'rule r{i} on {hook} when prompt contains "w{i}" block\n' for i in range(n))
        policy = guardrails.loads(text, "w12.rules")
        runner = HookRunner(hook, policy.programs(hook), policy.shadowed, policy.ruleset_hash)
        assert runner.run(facts, detail=False).outcome == policy.evaluate(hook, facts).outcome
        return policy, runner

    words = [f"w{i}" for i in range(10)]

    def hand(p: dict[str, Any] = facts) -> bool:
        text = p["prompt"]
        return any(w in text for w in words)

    cases: dict[str, Case] = {"hand-written Python, 10 phrases": lambda: hand(facts)}
    for n in (10, 10_000):
        policy, runner = phrases(n)
        cases[f"ours: engine, lean, {n} rules"] = lambda r=runner: r.run(facts, detail=False)
        cases[f"ours: Policy.evaluate, {n} rules"] = lambda p=policy: p.evaluate(hook, facts)
    report("W12 phrase rules, none firing (10 vs 10,000)", measure(cases, calls, rounds),
           "ours: engine, lean, 10 rules",
           "10,000 rules <= 10 µs and <= 2x 10 rules, lean and evaluate")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; {args.calls} calls x {args.rounds} rounds per case; "
          "median of rounds; ratio to the first line")  # fmt: skip
    for workload in (w1, w2, w3, w4, w9, w12):
        workload(args.calls, args.rounds)


if __name__ == "__main__":
    main()
