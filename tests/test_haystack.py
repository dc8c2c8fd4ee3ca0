"""Rules as Haystack Agent hooks, run through a real `Agent` with a scripted chat
generator (no network): tool calls, tool results, exits and stops."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage, ToolCall
from haystack.tools import Tool

import guardrails
from guardrails.records import MemorySink
from guardrails.testing.haystack import ScriptedChatGenerator

RULES = """
rule no_shell on before_tool when tool.name == "shell" unless user.role == "admin"
  block "shell is not allowed" code NO_SHELL
rule quiet_search on before_tool mode transform when tool.name == "search"
  set tool.args.safe = true
rule hide_keys on after_tool mode transform redact tool.output /api_key=\\w+/
rule budget on before_llm when tokens > 3000 block "context budget exceeded" code BUDGET
rule save_first on on_exit when not ("save" in tool_call_counts and tool_call_counts["save"] > 0)
  continue "call save before you finish" code SAVE_FIRST
rule no_ssn on after_run when last_message.text matches /\\d{3}-\\d{2}-\\d{4}/
  block "answer withheld: it contains an SSN" code PII
"""


def make_tools(ran: list[tuple[str, dict[str, Any]]]) -> list[Tool]:
    def record(name: str, output: str) -> Any:
        def function(**kwargs: Any) -> str:
            ran.append((name, kwargs))
            return output

        return function

    schema = {"type": "object", "properties": {}, "additionalProperties": True}
    outputs = {"shell": "ok", "search": "found: api_key=s3cr3t", "save": "saved"}
    return [Tool(name=n, description=n, parameters=schema, function=record(n, o))
            for n, o in outputs.items()]  # fmt: skip


def call(name: str, cid: str, **args: Any) -> ChatMessage:
    return ChatMessage.from_assistant(tool_calls=[ToolCall(tool_name=name, arguments=args, id=cid)])


def agent_for(policy: Any, script: list[Any], ran: list[Any], **kw: Any) -> tuple[Agent, Any]:
    generator = ScriptedChatGenerator(script, kw.pop("prompt_tokens", 100))
    agent = Agent(
        chat_generator=generator,
        tools=make_tools(ran),
        hooks=policy.haystack_hooks(),
        max_agent_steps=kw.pop("max_agent_steps", 6),
    )
    return agent, generator


@pytest.fixture
def policy() -> Any:
    return guardrails.loads(RULES, "agent.rules")


def run(agent: Agent, role: str = "guest") -> dict[str, Any]:
    return agent.run(
        messages=[ChatMessage.from_user("do the thing")], hook_context={"user": {"role": role}}
    )


def test_a_blocked_tool_never_runs_and_the_model_is_told_why(policy):
    ran: list[Any] = []
    script = [call("shell", "c1", cmd="rm -rf /"), call("save", "c2"), "done"]
    agent, generator = agent_for(policy, script, ran)
    result = run(agent)
    assert [name for name, _ in ran] == ["save"]
    assert result["tool_call_counts"]["shell"] == 0
    told = [m.tool_call_result for m in generator.seen[1] if m.tool_call_result is not None]
    assert told[0].error and "shell is not allowed" in told[0].result
    assert result["last_message"].text == "done"
    # and `unless user.role == "admin"` lets the admin's identical call run
    ran.clear()
    agent, _ = agent_for(policy, script, ran)
    run(agent, role="admin")
    assert [name for name, _ in ran] == ["shell", "save"]


def test_mixed_calls_keep_the_allowed_one_and_rewrite_its_args(policy):
    ran: list[Any] = []
    both = ChatMessage.from_assistant(
        tool_calls=[
            ToolCall(tool_name="shell", arguments={"cmd": "ls"}, id="c1"),
            ToolCall(tool_name="search", arguments={"q": "x"}, id="c2"),
        ]
    )
    agent, generator = agent_for(policy, [both, call("save", "c3"), "done"], ran)
    run(agent)
    assert ran[0] == ("search", {"q": "x", "safe": True})
    # the tool result is redacted before the model sees it, and in the returned messages
    results = [m.tool_call_result.result for m in generator.seen[1] if m.tool_call_result]
    assert "found: [REDACTED]" in results and not any("s3cr3t" in r for r in results)


def test_block_at_before_llm_stops_the_run_with_the_reason(policy):
    ran: list[Any] = []
    agent, generator = agent_for(policy, [call("save", "c1"), "done"], ran, prompt_tokens=5000)
    result = run(agent)
    # the first call has no provider count yet (the prompt is tiny); the second is stopped
    assert generator.calls == 1
    assert result["exit_reason"] == "context budget exceeded"
    assert result["last_message"].text == "Blocked by policy: context budget exceeded"


def test_block_at_on_exit_keeps_the_run_going(policy):
    ran: list[Any] = []
    agent, generator = agent_for(policy, ["early answer", call("save", "c1"), "final"], ran)
    result = run(agent)
    assert generator.calls == 3 and result["last_message"].text == "final"
    reminder = generator.seen[1][-1]
    assert reminder.role.value == "user" and "call save before you finish" in reminder.text


def test_block_at_after_run_withholds_the_answer(policy):
    ran: list[Any] = []
    agent, _ = agent_for(policy, [call("save", "c1"), "the SSN is 123-45-6789"], ran)
    result = run(agent)
    assert result["last_message"].text == "Blocked by policy: answer withheld: it contains an SSN"
    assert not any("123-45" in (m.text or "") for m in result["messages"][-1:])


def test_shadow_records_but_blocks_nothing():
    sink = MemorySink()
    policy = guardrails.loads(RULES, "agent.rules", shadow=True, sinks=[sink])
    ran: list[Any] = []
    agent, _ = agent_for(policy, [call("shell", "c1", cmd="ls"), "done"], ran)
    run(agent)
    assert [name for name, _ in ran] == ["shell"]
    fired = {(r.rule, r.verdict) for r in sink.records}
    assert ("no_shell", "would_block") in fired and ("save_first", "would_block") in fired


def test_async_runs_apply_the_same_rules(policy):
    ran: list[Any] = []
    agent, _ = agent_for(policy, [call("shell", "c1", cmd="ls"), call("save", "c2"), "done"], ran)
    messages = [ChatMessage.from_user("go")]
    result = asyncio.run(agent.run_async(messages=messages, hook_context={"user": "bob"}))
    assert [name for name, _ in ran] == ["save"] and result["last_message"].text == "done"


def test_a_failing_rule_fails_closed():
    policy = guardrails.loads('on before_tool when tool.args.n > 1 block "too many"\n', "f.rules")
    ran: list[Any] = []
    agent, _ = agent_for(policy, [call("save", "c1", n="not a number"), "done"], ran)
    result = run(agent)
    assert ran == [] and result["tool_call_counts"]["save"] == 0


def test_hooks_cover_only_points_with_rules_and_refuse_wrong_points():
    from guardrails.adapters.haystack import RulesHook

    policy = guardrails.loads('on before_tool when tool.name == "x" block\n', "p.rules")
    hooks = policy.haystack_hooks()
    assert list(hooks) == ["before_tool"]
    with pytest.raises(ValueError, match="only supports"):
        Agent(
            chat_generator=ScriptedChatGenerator(["x"]), hooks={"after_run": hooks["before_tool"]}
        )
    with pytest.raises(ValueError, match="not a Haystack hook point"):
        RulesHook(policy, "tool_pre_invoke")


def test_the_checker_knows_haystack_facts():
    with pytest.raises(guardrails.RulesError) as err:
        guardrails.loads("on before_llm set tool.args.x = 1\n", "bad.rules")
    assert "tool.args" in str(err.value)


def test_cpex_hosts_ignore_haystack_points():
    both = guardrails.loads('on tool_pre_invoke, before_tool when tool.name == "x" block\n')
    assert [plugin.config.hooks for plugin in both.plugins()] == [["tool_pre_invoke"]]
    assert list(both.haystack_hooks()) == ["before_tool"]
    only_haystack = guardrails.loads('on before_tool when tool.name == "x" block\n')
    assert only_haystack.plugins() == []


def test_hook_points_match_the_installed_haystack():
    from haystack.hooks import VALID_HOOK_POINTS

    from guardrails.adapters.haystack import HOOK_POINTS
    from guardrails.hosts.haystack import HAYSTACK_HOOKS

    assert set(HOOK_POINTS) == set(VALID_HOOK_POINTS) == set(HAYSTACK_HOOKS)


def test_prompt_messages_and_estimated_tokens_are_built_when_rules_read_them():
    rules = (
        'rule words on before_llm when prompt contains "forbidden" block "no" code WORDS\n'
        "rule long on before_llm when len(messages) > 2 block 'too long' code LONG\n"
        "rule big on before_run when tokens > 50 block 'too big' code BIG\n"
    )
    policy = guardrails.loads(rules, "lazy.rules")
    ran: list[Any] = []
    agent, generator = agent_for(policy, ["ok"], ran)
    result = agent.run(messages=[ChatMessage.from_user("a forbidden topic")])
    assert generator.calls == 0 and result["exit_reason"] == "no"
    agent, generator = agent_for(policy, [call("save", "c1"), call("save", "c2"), "ok"], ran)
    result = agent.run(messages=[ChatMessage.from_user("hi")])
    # user, call, result: 3 messages > 2 -> stopped before the second LLM call
    assert generator.calls == 1 and result["exit_reason"] == "too long"
    agent, generator = agent_for(policy, ["ok"], ran)
    result = agent.run(messages=[ChatMessage.from_user("x" * 400)])  # ~100 estimated tokens
    assert generator.calls == 0 and result["exit_reason"] == "too big"


def test_token_usage_has_known_keys_checked_at_load_and_filled_from_the_provider():
    with pytest.raises(guardrails.RulesError, match=r"did you mean 'token_usage\.total_tokens'"):
        guardrails.loads("rule r on before_llm when token_usage.totl_tokens > 1 block\n")
    policy = guardrails.loads(
        "rule spent on before_llm when token_usage.total_tokens >= 110"
        ' block "run budget spent" code SPENT\n'
    )
    ran: list[Any] = []
    agent, generator = agent_for(policy, [call("save", "c1"), "done"], ran)
    result = run(agent)
    # the first call had no usage yet; the second sees 100 prompt + 10 completion tokens
    assert generator.calls == 1 and result["exit_reason"] == "run budget spent"
