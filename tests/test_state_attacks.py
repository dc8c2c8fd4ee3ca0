"""Attacks on rules that remember: what a caller (the model, a user, a tenant) can send
to get a call through that `examples/policies/*.rules` means to refuse, or to make
the engine's state wrong. Each test is an attack that once worked."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import guardrails
from guardrails.runtime.ops import RuleTypeError
from guardrails.runtime.state import MemoryStore, Reading, StateOp, canonical

POLICIES = Path(__file__).resolve().parent.parent / "examples" / "policies"
T0 = 1_800_000_000.0  # a whole hour: 2027-01-15T08:00:00Z


def load(name: str, **options: Any) -> guardrails.Policy:
    return guardrails.load(POLICIES / f"{name}.rules", **options)


def tool(policy: guardrails.Policy, name: str, args: object = None, **context: object):
    context.setdefault("user", "alice")
    context.setdefault("session", "s1")
    facts = {"tool": {"name": name, "args": {} if args is None else args}, **context}
    return policy.evaluate("tool_pre_invoke", facts, now=T0)


# ---- per-session state when the host names no session ----


def test_another_callers_search_does_not_let_an_answer_without_a_session_through():
    policy = load("search_before_answer")
    policy.evaluate("tool_post_invoke", {"tool": {"name": "search"}, "user": "mallory"}, now=T0)
    for session in (None, ""):
        answer = policy.evaluate(
            "agent_post_invoke", {"output": "42", "user": "victim", "session": session}, now=T0
        )
        assert answer.outcome == "block"
    policy.evaluate(
        "tool_post_invoke", {"tool": {"name": "search"}, "user": "bob", "session": "7"}, now=T0
    )
    mine = {"output": "42", "session": "7"}
    assert policy.evaluate("agent_post_invoke", {**mine, "user": "eve"}, now=T0).code == (
        "NEEDS_SEARCH"
    )  # the same session id of another user is another session
    assert policy.evaluate("agent_post_invoke", {**mine, "user": "bob"}, now=T0).outcome == "allow"


def test_without_a_session_one_users_calls_do_not_count_against_another():
    loops = load("agent_loops")
    for user in ("a", "b"):  # two users happen to make the same call
        assert tool(loops, "search", {"q": "weather"}, user=user, session=None).outcome == "allow"
    assert tool(loops, "search", {"q": "weather"}, user="c", session=None).outcome == "allow"
    emails = load("rate_limits")
    for i in range(5):
        tool(emails, "send_email", user=f"u{i}", session=None)
    assert tool(emails, "send_email", user="someone else", session=None).outcome == "allow"
    flow = load("untrusted_flow")
    tool(flow, "read_inbox", user="a", session=None)
    outside = {"to": "partner@elsewhere.org"}
    assert tool(flow, "send_email", outside, user="b", session=None).outcome == "allow"
    assert tool(flow, "send_email", outside, user="a", session=None).code == "TAINTED_EMAIL"


# ---- untrusted_flow.rules ----


def tainted() -> guardrails.Policy:
    policy = load("untrusted_flow")
    assert tool(policy, "read_inbox").outcome == "allow"
    return policy


@pytest.mark.parametrize(
    "args",
    [
        {},  # no recipient the rule can see: the tool's may be named otherwise
        {"recipients": ["evil@evil.net"]},
        {"to": [], "recipients": ["evil@evil.net"]},
        {"to": "evil%evil.net@example.com"},  # the percent hack: relayed to evil.net
        {"to": ["a@example.com", "evil%evil.net@example.com"]},
    ],
)
def test_a_tainted_session_cannot_email_out_by_hiding_the_recipient(args: dict[str, object]):
    assert tool(tainted(), "send_email", args).code == "TAINTED_EMAIL"


@pytest.mark.parametrize(
    "args",
    [
        {"to": "a@example.com"},
        {"to": "A.B+tag@EXAMPLE.COM", "cc": None},
        {"to": ["a@example.com", "b@example.com"], "cc": ["c@example.com"], "bcc": None},
        {"to": [["a@example.com"]], "bcc": "b@example.com"},
    ],
)
def test_a_tainted_session_still_emails_the_company(args: dict[str, object]):
    assert tool(tainted(), "send_email", args).outcome == "allow"


@pytest.mark.parametrize(
    "to",
    [
        "a@example.com.",
        "a@example.com.evil.net",
        "a@evil.example.com",
        "Boss <evil@evil.net>",
        '"evil@evil.net"@example.com',
        'a@example.com", "evil@evil.net',
        "a@example.com\nBcc: evil@evil.net",
        "a@example.com,evil@evil.net",
        "evil.net!a@example.com",
        "a@ex\u0430mple.com",  # a Cyrillic a
        {"email": "a@example.com"},
    ],
)
def test_recipient_spellings_that_reach_outside_are_refused(to: object):
    assert tool(tainted(), "send_email", {"to": to}).code == "TAINTED_EMAIL"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com.evil.net/",
        "https://api.example.com@evil.net/",
        "https://api.example.com:443@evil.net/",
        "https://api.example.com\\@evil.net",
        "https://api.example.com#@evil.net",
        "https://api.example.com\n.evil.net",
        "https://api.example.com\u3002evil.net/",
        "https://api.example.com:\u0668\u0660/",  # Arabic-Indic digits as a port
        "http://api.example.com/",
        "https://evil.net/?https://api.example.com/",
        None,
        ["https://api.example.com/", "https://evil.net/"],
    ],
)
def test_url_spellings_that_reach_outside_are_refused(url: object):
    assert tool(tainted(), "http_post", {"url": url}).code == "TAINTED_POST"


# ---- token_budget.rules ----


def test_prompts_in_flight_at_once_cannot_all_spend_the_same_hour():
    policy = load("token_budget")
    prompt = "x" * (60_000 * 4)  # 60,000 tokens: two of them are over the hour's 100,000
    outcomes = [
        policy.evaluate("generation_pre_call", {"prompt": prompt, "user": "u"}, now=T0).outcome
        for _ in range(3)  # sent together: none has come back to be counted after it
    ]
    assert outcomes == ["allow", "block", "block"]


def test_a_user_with_nothing_left_cannot_generate_with_an_empty_prompt():
    policy = load("token_budget")
    done = {"prompt": "hi", "output": "y" * (100_000 * 4), "user": "u"}
    policy.evaluate("generation_post_call", done, now=T0)
    empty = policy.evaluate("generation_pre_call", {"prompt": "", "user": "u"}, now=T0)
    assert empty.code == "TOKEN_BUDGET"
    assert "0 of 100000 tokens left" in (empty.reason or "")


def test_batch_generations_count_and_are_refused_like_single_ones():
    policy = load("token_budget")
    batch = {"prompt": "x" * (60_000 * 4), "user": "u", "num_actions": 2}
    assert policy.evaluate("generation_batch_pre_call", batch, now=T0).outcome == "allow"
    assert policy.evaluate("generation_batch_pre_call", batch, now=T0).code == "TOKEN_BUDGET"
    other = load("token_budget")
    out = {"output": "y" * (100_000 * 4), "user": "u"}
    other.evaluate("generation_batch_post_call", out, now=T0)
    assert other.evaluate("generation_pre_call", {"prompt": "hi", "user": "u"}, now=T0).code == (
        "TOKEN_BUDGET"
    )


# ---- tenant_spend.rules ----


def calls_until_refused(policy: guardrails.Policy, hook: str, facts: dict[str, object]) -> int:
    for n in range(1, 500):
        if policy.evaluate(hook, facts, now=T0).outcome == "block":
            return n - 1
    return 500


@pytest.mark.parametrize(
    "options",
    [
        {"max_tokens": 200_000},
        {"max_new_tokens": 200_000},  # Mellea's ModelOption.MAX_NEW_TOKENS
        {"max_completion_tokens": 200_000},  # OpenAI's newer name
        {"max_output_tokens": 200_000},
        {"max_tokens": 1, "max_new_tokens": 200_000},
        {"max_tokens": 2000, "n": 100},  # a hundred completions of 2,000 tokens
    ],
)
def test_a_call_is_priced_at_the_largest_output_it_may_produce(options: dict[str, object]):
    facts = {"prompt": "hi", "tenant": "t", "model": "gpt-4o", "model_options": options}
    # $0.005 per 1,000 tokens: 200,000 tokens are $1, so $50 buys 50 calls
    assert calls_until_refused(load("tenant_spend"), "generation_pre_call", facts) == 50


def test_small_output_limits_are_priced_as_small():
    facts = {"prompt": "", "tenant": "t", "model": "gpt-4o", "model_options": {"max_tokens": 100}}
    # 100 tokens are $0.0005: $50 buys 100,000 such calls; not refused in the first 500
    assert calls_until_refused(load("tenant_spend"), "generation_pre_call", facts) == 500
    facts["model_options"] = {}  # 1,000 when none is set: $0.005, 10,000 calls
    assert calls_until_refused(load("tenant_spend"), "generation_pre_call", facts) == 500


def test_a_batch_is_priced_and_refused_like_single_calls():
    policy = load("tenant_spend")
    batch = {
        "prompt": "hi",
        "tenant": "t",
        "model": "gpt-4o",
        "model_options": {"max_tokens": 100_000},
        "num_actions": 10,
    }  # ten outputs of up to 100,000 tokens: $5
    assert calls_until_refused(policy, "generation_batch_pre_call", batch) == 10
    single = {"prompt": "hi", "tenant": "t", "model": "gpt-4o"}
    assert policy.evaluate("generation_pre_call", single, now=T0).code == "SPEND_LIMIT"


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


class WrongStore(MemoryStore):
    """A store that answers, but wrongly: a bug in a custom or networked store."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer

    def exchange(self, ops: Sequence[StateOp], now: float) -> list[Reading]:
        return self.answer(super().exchange(ops, now))


@pytest.mark.parametrize(
    "answer",
    [
        lambda readings: readings[:-1],  # one reading short
        lambda readings: [None for _ in readings],
        lambda readings: [Reading("5", None) for _ in readings],
        lambda readings: [Reading(1, float("nan")) for _ in readings],
    ],
)
def test_a_store_that_answers_wrongly_fails_closed_instead_of_raising(answer: Any):
    policy = load("rate_limits", state=WrongStore(answer))
    verdict = tool(policy, "send_email")  # evaluate() returns a verdict, never raises
    assert verdict.outcome == "block" and verdict.code == "GUARDRAIL_ERROR"
    assert "state store failed" in (verdict.reason or "")


class SweepCounter(MemoryStore):
    sweeps = 0

    def _sweep(self, now: float) -> int:
        self.sweeps += 1
        return super()._sweep(now)


def test_a_flooded_store_does_not_walk_every_key_on_every_refused_call():
    store = SweepCounter(max_keys=3)
    policy = load("rate_limits", state=store)  # a key per user and tool, for a minute
    for name in ("a", "b", "c"):
        assert tool(policy, name).outcome == "allow"
    for i in range(20):  # the flood goes on: each call wants a new key
        assert "live keys" in (tool(policy, f"t{i}").reason or "")
    assert store.sweeps == 0  # no key can expire before the minute ends: no walk
    later = policy.evaluate("tool_pre_invoke", {"tool": {"name": "x"}, "user": "v"}, now=T0 + 60)
    assert later.outcome == "allow" and store.sweeps == 1  # then one makes room


def test_a_key_that_expires_sooner_than_the_others_is_still_reclaimed():
    store = SweepCounter(max_keys=2)
    day = load("rate_limits", state=store)  # emails_sent: kept a day
    tool(day, "send_email", session="a")  # two keys: the email count and the minute's calls
    assert tool(day, "send_email", session="b").outcome == "block"  # full
    minute = guardrails.loads(
        "counter c per user every 1m\nrule r on tool_pre_invoke add 1 to c", state=store
    )
    store.sweep(T0 + 61)  # the minute's key goes: room for one
    assert minute.evaluate("tool_pre_invoke", {"user": "x"}, now=T0 + 61).outcome == "allow"
    later = minute.evaluate("tool_pre_invoke", {"user": "y"}, now=T0 + 121)
    assert later.outcome == "allow"  # x's minute ended before the day's key: swept, not refused


@pytest.mark.parametrize(
    ("reader", "sender"),
    [
        ("Read_Inbox", "SEND_EMAIL"),
        ("\uff52\uff45\uff41\uff44_inbox", "send\u200b_email"),  # fullwidth; a zero-width space
        ("r\u0435ad_inbox", "s\u0435nd_email"),  # Cyrillic e
        (" read_inbox\n", "send_email\t"),
    ],
)
def test_tool_name_spellings_neither_dodge_the_taint_nor_the_check(reader: str, sender: str):
    policy = load("untrusted_flow")
    tool(policy, reader)
    assert tool(policy, sender, {"to": "evil@evil.net"}).code == "TAINTED_EMAIL"
