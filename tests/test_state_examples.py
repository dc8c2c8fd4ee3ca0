"""The example policies (`examples/policies/*.rules`) on real hosts, over several calls:
a cpex manager, Mellea sessions and Haystack Agent runs, each host giving the
session its own way (docs/hosts.md). The Nth call is the one refused.

The store is a real `MemoryStore` whose clock stands still, so a one-minute window
cannot end in the middle of a test.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cpex.framework import (
    AgentPostInvokePayload,
    GlobalContext,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
)

import guardrails
from guardrails.runtime.state import MemoryStore

from .openai_stub import StubOpenAI, serve_stub

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
logging.getLogger("cpex").setLevel(logging.ERROR)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
NOW = 1_899_936_005.0  # five seconds into a minute, an hour and a day (UTC)


class StillClock(MemoryStore):
    def exchange(self, ops: Any, now: float) -> Any:
        return super().exchange(ops, NOW)


def example(name: str, hooks: dict[str, str] | None = None) -> guardrails.Policy:
    """An example policy, its hook names mapped for a host with other hook points."""
    text = (EXAMPLES / f"{name}.rules").read_text()
    for cpex_hook, host_hook in (hooks or {}).items():
        text = text.replace(f"on {cpex_hook}", f"on {host_hook}")
    return guardrails.loads(text, f"{name}.rules", state=StillClock())


# ---- a cpex manager: the session in GlobalContext.metadata ----


class Calls:
    def __init__(self, policy: guardrails.Policy) -> None:
        self.manager = asyncio.run(policy.manager(timeout=5))

    def __call__(
        self, hook: str, payload: Any, user: str = "ann", session: str | None = "s1"
    ) -> str | None:
        gctx = GlobalContext(request_id="r", user=user, metadata={"session_id": session or ""})
        result, _ = asyncio.run(self.manager.invoke_hook(hook, payload, gctx))
        return None if result.continue_processing else result.violation.code

    def tool(self, name: str, **kw: Any) -> str | None:
        args = kw.pop("args", {})
        return self("tool_pre_invoke", ToolPreInvokePayload(name=name, args=args), **kw)


def test_rate_limits_in_cpex_refuse_the_31st_call_and_the_6th_email():
    calls = Calls(example("rate_limits"))
    assert [calls.tool("lookup") for _ in range(30)] == [None] * 30
    assert calls.tool("lookup") == "RATE_LIMIT"
    assert calls.tool("lookup", user="bob") is None  # per user
    emails = [calls.tool("Send_Email", session="s2") for _ in range(5)]
    assert emails == [None] * 5 and calls.tool("send_email", session="s2") == "EMAIL_LIMIT"
    assert calls.tool("send_email", session="s3") is None  # per session


def test_agent_loops_in_cpex_refuse_the_third_same_call():
    calls = Calls(example("agent_loops"))
    assert calls.tool("fetch", args={"url": "u", "n": 1}) is None
    assert calls.tool("fetch", args={"n": 1, "url": "u"}) is None  # key order does not count
    assert calls.tool("fetch", args={"url": "u", "n": 1}) == "AGENT_LOOP"
    assert calls.tool("fetch", args={"url": "u", "n": 1}, session="s2") is None
    assert calls.tool("fetch", args={"url": "v", "n": 1}) is None  # a new call ends the run


def test_search_before_answer_in_cpex_counts_the_sessions_searches():
    calls = Calls(example("search_before_answer"))
    answer = AgentPostInvokePayload(agent_id="a", messages=[])
    assert calls("agent_post_invoke", answer) == "NEEDS_SEARCH"
    assert calls("tool_post_invoke", ToolPostInvokePayload(name="Search", result="r")) is None
    assert calls("agent_post_invoke", answer) is None
    assert calls("agent_post_invoke", answer, session="s2") == "NEEDS_SEARCH"


def test_untrusted_flow_in_cpex_keeps_a_tainted_sessions_mail_inside():
    calls = Calls(example("untrusted_flow"))
    outside = {"to": "eve@evil.example.net"}
    assert calls.tool("send_email", args=outside) is None  # not tainted yet
    assert calls.tool("read_inbox") is None
    assert calls.tool("send_email", args=outside) == "TAINTED_EMAIL"
    assert calls.tool("send_email", args={"to": "bob@example.com"}) is None
    assert calls.tool("send_email", args=outside, session="s2") is None


# ---- Mellea: the session of the `with session:` block ----


def fetching(url: str) -> Any:
    """A Mellea session whose model asks, every time, to fetch `url`."""
    from mellea import MelleaSession

    from guardrails.testing.canned import CannedBackend, ToolCallReply

    return MelleaSession(CannedBackend([ToolCallReply("fetch", {"url": url})]))


def mellea_tool_call(m: Any) -> Any:
    """One model reply asking for a tool call, and the call, in a Mellea session."""
    from mellea import ModelOption
    from mellea.backends.tools import MelleaTool
    from mellea.stdlib.functional import call_tools

    def fetch(url: str) -> str:
        """Fetch a page (a fake one)."""
        return f"page {url}"

    result = m.instruct(
        "go", strategy=None, tool_calls=True,
        model_options={ModelOption.TOOLS: [MelleaTool.from_callable(fetch)]},
    )  # fmt: skip
    (ran,) = call_tools(result, m.backend)
    return ran.content


def test_agent_loops_in_mellea_count_per_session():
    pytest.importorskip("mellea")
    from mellea.plugins import PluginViolationError, plugin_scope

    policy = example("agent_loops")
    with plugin_scope(*policy.plugins()):
        with fetching("u") as m:
            assert [mellea_tool_call(m) for _ in range(2)] == ["page u", "page u"]
            with pytest.raises(PluginViolationError) as info:
                mellea_tool_call(m)
            assert info.value.code == "AGENT_LOOP"
        with fetching("u") as other:  # a session of its own
            assert mellea_tool_call(other) == "page u"
        # outside a `with` block Mellea names no session: such calls share one
        assert [mellea_tool_call(fetching("w")) for _ in range(2)] == ["page w", "page w"]
        with pytest.raises(PluginViolationError):
            mellea_tool_call(fetching("w"))


def test_token_budget_in_mellea_refuses_a_prompt_larger_than_what_is_left(stub_openai):
    """Prompts count when sent: a prompt larger than what is left is refused and still
    counts (it arrived), so after it nothing is left, even for a short question."""
    pytest.importorskip("mellea")
    from mellea import start_session
    from mellea.plugins import PluginViolationError

    policy = example("token_budget")
    big = "word " * 48_000  # some 60,000 tokens
    with start_session(
        "openai", "stub-model", base_url=stub_openai, api_key="x", plugins=policy.plugins()
    ) as m:
        assert str(m.instruct(big, strategy=None)) == "stub reply"
        assert str(m.instruct("a short question", strategy=None)) == "stub reply"  # it fits
        with pytest.raises(PluginViolationError) as info:
            m.instruct(big, strategy=None)
        assert info.value.code == "TOKEN_BUDGET"
        left = re.search(r"budget: (\d+) of 100000 tokens left this hour", info.value.reason)
        assert left is not None and 0 < int(left.group(1)) < 60_000  # refused as too large
        with pytest.raises(PluginViolationError) as info:
            m.instruct("a short question", strategy=None)
        assert "budget: 0 of 100000 tokens left this hour" in info.value.reason
    assert len(StubOpenAI.bodies) == 2  # the refused prompts were never sent


def test_tenant_spend_in_mellea_refuses_the_call_after_the_limit():
    pytest.importorskip("mellea")
    from mellea import MelleaSession
    from mellea.plugins import PluginViolationError, plugin_scope

    from guardrails.testing.canned import CannedBackend

    policy = example("tenant_spend")
    backend = CannedBackend(["ok"])
    costly = {"max_tokens": 1_000_000}  # $20 a call at the unlisted model's price
    with plugin_scope(*policy.plugins()), MelleaSession(backend) as m:
        for _ in range(3):  # $0, $20, $40 spent before each: under $50
            m.instruct("hi", strategy=None, model_options=costly)
        with pytest.raises(PluginViolationError) as info:
            m.instruct("hi", strategy=None, model_options=costly)
    assert info.value.code == "SPEND_LIMIT" and len(backend.requests) == 3


# ---- Haystack: one session per Agent run, unless hook_context names one ----


def haystack_run(policy: guardrails.Policy, calls: list[Any], **run: Any) -> list[Any]:
    """The tool calls a run made (name, args), given the model's scripted tool calls."""
    pytest.importorskip("haystack")
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage, ToolCall
    from haystack.tools import Tool

    from guardrails.testing.haystack import ScriptedChatGenerator

    ran: list[Any] = []

    def tool(name: str) -> Tool:
        def function(**kwargs: Any) -> str:
            ran.append((name, kwargs))
            return "ok"

        schema = {"type": "object", "properties": {}, "additionalProperties": True}
        return Tool(name=name, description=name, parameters=schema, function=function)

    script = [
        ChatMessage.from_assistant(
            tool_calls=[ToolCall(tool_name=n, arguments=a, id=f"c{i}") for n, a in step]
        )
        for i, step in enumerate(calls)
    ]
    names = {n for step in calls for n, _ in step}
    agent = Agent(
        chat_generator=ScriptedChatGenerator([*script, "done"]),
        tools=[tool(n) for n in sorted(names)],
        hooks=policy.haystack_hooks(),
        max_agent_steps=len(calls) + 2,
    )
    agent.run(messages=[ChatMessage.from_user("go")], **run)
    return ran


TO_HAYSTACK = {"tool_pre_invoke": "before_tool", "tool_post_invoke": "after_tool"}


def test_agent_loops_in_haystack_count_per_run():
    policy = example("agent_loops", TO_HAYSTACK)
    same = [("fetch", {"url": "u"})]
    assert haystack_run(policy, [same, same, same]) == same * 2  # the third never ran
    assert haystack_run(policy, [same]) == same  # the next run is a session of its own


def test_rate_limits_in_haystack_refuse_the_sixth_email_of_a_run():
    policy = example("rate_limits", TO_HAYSTACK)
    emails = [("send_email", {"to": f"{i}@example.com"}) for i in range(6)]
    ran = haystack_run(policy, [emails], hook_context={"user": "ann"})
    assert ran == emails[:5]


def test_untrusted_flow_in_haystack_spans_runs_that_name_their_session():
    policy = example("untrusted_flow", TO_HAYSTACK)
    outside = [("send_email", {"to": "eve@evil.example.net"})]
    context = {"session": "chat-42"}
    assert haystack_run(policy, [[("read_inbox", {})]], hook_context=context)
    assert haystack_run(policy, [outside], hook_context=context) == []
    assert haystack_run(policy, [outside], hook_context={"session": "chat-43"}) == outside
    assert context == {"session": "chat-42"}  # the caller's dict is left as it was


@pytest.fixture
def stub_openai() -> Iterator[str]:
    with serve_stub() as url:
        yield url
