"""The `breaker` clause through the author's tools: parse, check, fmt, highlight, explain."""

from __future__ import annotations

import pytest
from pygments.token import Keyword, Number

import guardrails
from guardrails.runtime.breaker import BreakerConfig, Breakers
from guardrails.tooling.explain import explain
from guardrails.tooling.fmt import format_text
from guardrails.tooling.highlight import RulesLexer

from .test_fmt import assert_formats_well

# every test here fails through a stand-in dependency (conftest.failing_dependency)
pytestmark = pytest.mark.usefixtures("failing_dependency")


HOOK = "tool_pre_invoke"


def test_the_clause_reaches_the_compiled_rule():
    policy = guardrails.loads(
        "rule a on tool_pre_invoke breaker 5 in 2m cooldown 90s block\n"
        "rule b on tool_pre_invoke breaker off block\n"
        "rule c on tool_pre_invoke block\n"
    )
    found = {p.id: p.breaker for p in policy.compiled.programs}
    assert found == {"a": BreakerConfig(5, 120, 90), "b": False, "c": None}


def test_fmt_puts_the_clause_with_the_rules_settings_and_round_trips():
    text = (
        "rule a\n  on tool_pre_invoke\n  breaker   5 in 120s   cooldown 90s\n  priority 3\n"
        '  when tool.name == "x"\n  block\n'
        "rule b on tool_pre_invoke breaker off block\n"
    )
    formatted, _ = format_text(text)
    assert formatted is not None
    assert "  priority 3 breaker 5 in 2m cooldown 90s\n" in formatted
    assert "  breaker off\n" in formatted
    assert_formats_well(formatted)


def test_highlighter_colours_the_clause():
    tokens = [
        (t, v) for t, v in RulesLexer().get_tokens("breaker 5 in 1m cooldown 30s breaker off")
    ]
    words = {v: t for t, v in tokens if v.strip()}
    assert words["breaker"] in Keyword and words["cooldown"] in Keyword
    assert words["1m"] in Number and words["30s"] in Number
    assert words["off"] in Keyword.Constant


def test_explain_shows_the_breaker_and_an_open_circuit():
    now = [0.0]
    policy = guardrails.loads(
        "rule big on tool_pre_invoke breaker 2 in 1m cooldown 30s when tool.args.n + 1 > 5 block\n"
        "rule plain on tool_pre_invoke when tool.name == 'x' block\n",
        breaker=Breakers(clock=lambda: now[0]),
    )
    facts = {"tool": {"name": "t", "args": {"n": 1}}}
    verdict = policy.evaluate(HOOK, facts)
    text = explain(policy, HOOK, facts, verdict)
    assert "  breaker 2 in 1m cooldown 30s: closed" in text
    assert text.count("breaker") == 1  # `plain` has none
    for _ in range(2):
        policy.evaluate(HOOK, {"tool": {"name": "t", "args": {"n": "x"}}})
    verdict = policy.evaluate(HOOK, facts)
    text = explain(policy, HOOK, facts, verdict)
    assert "  breaker 2 in 1m cooldown 30s: open" in text
    assert "(not evaluated: rule big not run: circuit open after 2 failures" in text
    assert "tool.args.n" not in text  # the condition was not run, so it is not shown


def test_explain_says_when_the_breaker_comes_from_the_load_option():
    policy = guardrails.loads("rule p on tool_pre_invoke block\n", breaker=True)
    facts = {"tool": {"name": "t"}}
    text = explain(policy, HOOK, facts, policy.evaluate(HOOK, facts))
    assert "breaker 5 in 1m cooldown 30s (the load option): closed" in text
