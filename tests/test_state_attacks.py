"""Attacks on rules that remember: what a caller (the model, a user, a tenant) can send
to get a call through that `examples/policies/*.rules` means to refuse, or to make
the engine's state wrong. Each test is an attack that once worked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import guardrails
from guardrails.runtime.ops import RuleTypeError
from guardrails.runtime.state import MemoryStore, canonical

POLICIES = Path(__file__).resolve().parent.parent / "examples" / "policies"
T0 = 1_800_000_000.0  # a whole hour: 2027-01-15T08:00:00Z


def load(name: str, **options: Any) -> guardrails.Policy:
    return guardrails.load(POLICIES / f"{name}.rules", **options)


def tool(policy: guardrails.Policy, name: str, args: object = None, **context: object):
    context.setdefault("user", "alice")
    context.setdefault("session", "s1")
    facts = {"tool": {"name": name, "args": {} if args is None else args}, **context}
    return policy.evaluate("tool_pre_invoke", facts, now=T0)


# ---- the engine ----


def test_a_full_store_applies_none_of_a_calls_updates():
    store = MemoryStore(max_keys=2)
    policy = guardrails.loads(
        """
        counter a per user limit 100
        counter b per user, tool.name limit 100
        rule ca on tool_pre_invoke add 1 to a
        rule cb on tool_pre_invoke add 1 to b
        rule show on tool_pre_invoke when a >= 1 warn "{a}"
        """,
        state=store,
    )
    assert tool(policy, "t").outcome == "allow"
    refused = tool(policy, "new tool")  # needs a third key: the exchange fails
    assert refused.outcome == "block" and "live keys" in (refused.reason or "")
    again = tool(policy, "t")
    assert [r.reason for r in again.rules if r.rule_id == "show"] == ["1"]  # not 2


def test_state_preparation_counts_against_the_time_budget():
    def slow_tokenizer(text: str) -> int:
        time.sleep(0.05)
        return len(text)

    policy = guardrails.loads(
        """
        counter used per user limit 1000000
        rule count on generation_pre_call add tokens(prompt) to used
        rule check on generation_pre_call when used > used.limit block "over"
        """,
        tokenizer=slow_tokenizer,
        time_budget_ms=1,
    )
    verdict = policy.evaluate("generation_pre_call", {"prompt": "hi", "user": "u"}, now=T0)
    assert verdict.outcome == "block"
    assert "time budget" in (verdict.reason or "")


def test_a_map_key_without_a_stable_text_fails_closed():
    class Opaque:  # its str() holds its address: a fresh key, a fresh budget, every call
        pass

    with pytest.raises(RuleTypeError):
        canonical({Opaque(): 1})
    assert canonical({1.0: "a", None: "c", "k": "d"}) == '{"1":"a","k":"d","null":"c"}'
    assert canonical({False: 0}) == '{"false":0}'
    policy = load("rate_limits")
    verdict = tool(policy, "search", user={Opaque(): "alice"})
    assert verdict.outcome == "block" and verdict.code == "GUARDRAIL_ERROR"
