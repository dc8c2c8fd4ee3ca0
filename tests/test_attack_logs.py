"""Ways conversation text could still reach a decision log (or another caller)
besides a rule's `{fact}` reason, each found by trying it: a host function's (or the
judge's) error message quoting its argument, a circuit breaker repeating that message
to later calls, a `set` copying private text into a fact a later reason shows, a
host's raw payload field that holds the same text as a masked fact, a payload whose
read fails quoting it, and a block's reason coming back as Haystack's `exit_reason`."""

from __future__ import annotations

import asyncio
import json

import guardrails
from guardrails.records import Capture, JsonlSink, MemorySink

SECRET = "my ssn is 078-05-1120"


def classify(text: str) -> bool:
    """A host function whose error message quotes its input, as many parsers' do."""
    raise ValueError(f"cannot classify {text!r}")


QUOTING = "rule sorted on agent_pre_invoke when classify(prompt) block"


def _written(path):
    return path.read_text()


def _through_cpex(policy, hook, payload, context):
    """The violation a real cpex manager returns for one call."""

    async def go():
        manager = await policy.manager(timeout=5)
        try:
            result, _ = await manager.invoke_hook(hook, payload, context)
        finally:
            await manager.shutdown()
        return result

    return asyncio.run(go()).violation


def test_a_host_functions_error_quoting_the_prompt_stays_out_of_the_log(tmp_path):
    path = tmp_path / "decisions.jsonl"
    sink = JsonlSink(path)
    policy = guardrails.loads(QUOTING, "q.rules", sinks=[sink], functions=[classify])
    verdict = policy.evaluate("agent_pre_invoke", {"prompt": SECRET})
    sink.close()
    assert verdict.outcome == "block" and SECRET in verdict.reason  # the caller's own text
    (decision,) = [json.loads(line) for line in _written(path).splitlines()]
    assert decision["verdict"] == "error"
    assert "078-05" not in _written(path)
    assert decision["error"].startswith("classify() failed: ValueError: ")
    assert "prompt" in decision["error"]  # it says what it withheld
    assert decision["reason"] == f"rule sorted failed: {decision['error']}"


def test_a_policy_that_logs_values_logs_the_error_message_whole():
    sink = MemorySink()
    policy = guardrails.loads(
        QUOTING, "q.rules", sinks=[sink], functions=[classify], capture=Capture(mask=())
    )
    policy.evaluate("agent_pre_invoke", {"prompt": SECRET})
    (record,) = sink.records
    assert record.error == f"classify() failed: ValueError: cannot classify {SECRET!r}"


def test_an_error_of_a_rule_reading_no_private_fact_is_logged_whole():
    sink = MemorySink()
    rules = "rule sorted on tool_pre_invoke when classify(tool.name) block"
    policy = guardrails.loads(rules, "q.rules", sinks=[sink], functions=[classify])
    policy.evaluate("tool_pre_invoke", {"tool": {"name": "fetch", "args": {}}})
    (record,) = sink.records
    assert record.error == "classify() failed: ValueError: cannot classify 'fetch'"


def test_an_open_breaker_does_not_tell_the_next_caller_what_the_last_one_wrote():
    """The breaker's `(last: ...)` goes to every caller while it is open, and into its
    own records: it names the failure, never the payload that was in it."""
    sink = MemorySink()
    rules = (
        "rule sorted on agent_pre_invoke breaker 1 in 1m cooldown 1m when classify(prompt) block"
    )
    policy = guardrails.loads(rules, "q.rules", sinks=[sink], functions=[classify])
    first = policy.evaluate("agent_pre_invoke", {"prompt": SECRET})
    second = policy.evaluate("agent_pre_invoke", {"prompt": "someone else"})
    assert SECRET in first.reason
    assert "circuit open" in second.reason and "classify() failed: ValueError" in second.reason
    assert "078-05" not in second.reason
    (trip,) = sink.breakers
    assert trip.error == "classify() failed: ValueError"
    assert not any("078-05" in json.dumps(r.to_dict()) for r in sink.records + sink.breakers)


COPYING = """
rule keep on agent_pre_invoke priority 1 set system_prompt = prompt
rule move on agent_pre_invoke priority 2 set agent_id = system_prompt
rule show on agent_pre_invoke priority 3 when exists(agent_id) block "agent {agent_id}"
"""


def test_a_reason_showing_a_fact_a_set_filled_from_the_prompt_is_logged_as_written():
    sink = MemorySink()
    policy = guardrails.loads(COPYING, "c.rules", sinks=[sink])
    verdict = policy.evaluate("agent_pre_invoke", {"prompt": SECRET, "agent_id": "a1"})
    assert verdict.reason == f"agent {SECRET}"
    assert [r.reason for r in sink.records if r.verdict == "block"] == ["agent {agent_id}"]


def test_a_copy_from_a_kept_fact_still_shows_in_the_log():
    sink = MemorySink()
    rules = COPYING.replace("set agent_id = system_prompt", "set agent_id = model")
    policy = guardrails.loads(rules, "c.rules", sinks=[sink])
    facts = {"prompt": SECRET, "agent_id": "a1", "model": "gpt-4o"}
    policy.evaluate("agent_pre_invoke", facts)
    assert [r.reason for r in sink.records if r.verdict == "block"] == ["agent gpt-4o"]


def test_a_judge_reply_quoting_the_prompt_reaches_the_caller_not_the_cpex_log(tmp_path):
    """The judge's unparsable reply is in its error; a real cpex manager's log (the
    path hosts take) withholds it, as `evaluate`'s does."""

    from cpex.framework import AgentPreInvokePayload, GlobalContext

    path = tmp_path / "decisions.jsonl"
    sink = JsonlSink(path)
    rules = 'rule judged on agent_pre_invoke when judge("Is it safe?", prompt) block'

    def model(asked: str) -> str:  # a reply that quotes the text it was shown
        return f"Hard to say, it reads {SECRET}" if SECRET in asked else "YES: fine"

    judge = guardrails.Judge(model)
    policy = guardrails.loads(rules, "j.rules", sinks=[sink], judge=judge)

    message = {"role": "user", "content": {"type": "text", "text": SECRET}}
    payload = AgentPreInvokePayload(agent_id="a", messages=[message])
    violation = _through_cpex(policy, "agent_pre_invoke", payload, GlobalContext(request_id="r"))
    sink.close()
    assert violation.code == "GUARDRAIL_ERROR" and "078-05" in violation.reason
    (decision,) = [json.loads(line) for line in _written(path).splitlines()]
    assert decision["error"].startswith("judge() failed: JudgeAnswerError: ")
    assert "078-05" not in _written(path)


def test_a_hosts_raw_payload_field_holding_the_text_is_masked_like_its_fact():
    """Mellea's `tool_output` is what `tool.output` reads, and its `action` and
    `context` hold the prompt and the conversation: a rule reading the field by its
    own name must not put the text in the call record or the reason's log."""
    sink = MemorySink()
    rules = (
        'rule raw on tool_post_invoke when text(tool_output) contains "078" '
        'block "tool said {tool_output}"\n'
        "rule ctx on generation_pre_call when exists(action) and exists(context) "
        'warn "asked {action} in {context}"\n'
    )
    policy = guardrails.loads(rules, "m.rules", sinks=[sink], capture=True)
    tool = policy.evaluate("tool_post_invoke", {"tool_output": SECRET})
    policy.evaluate("generation_pre_call", {"action": SECRET, "context": [SECRET]})
    assert tool.reason == f"tool said {SECRET}"
    assert [r.reason for r in sink.records] == [
        "tool said {tool_output}",
        "asked {action} in {context}",
    ]
    logged = json.dumps([r.to_dict() for r in sink.records + sink.calls])
    assert "078-05" not in logged and logged.count("__masked__") == 3


class _Unreadable:
    """A tool result that cannot be read, whose error quotes what it holds (as a
    validation error quotes its input)."""

    @property
    def root(self):
        raise ValueError(f"cannot read {SECRET!r}")


def test_a_payload_that_cannot_be_read_does_not_put_its_text_in_the_log(tmp_path):
    """Through cpex, a payload the facts cannot be read from fails its rules closed;
    what the failure quoted may be any fact's text, so it stays out of the log even
    for a rule that reads no masked fact (`count` reads only `user`)."""

    from cpex.framework import GlobalContext, ToolPostInvokePayload

    path = tmp_path / "decisions.jsonl"
    sink = JsonlSink(path)
    rules = (
        "counter seen per user\n"
        "rule count on tool_post_invoke add 1 to seen\n"
        'rule many on tool_post_invoke when seen > 5 block "too many"\n'
        'rule leak on tool_post_invoke when text(tool.output) contains "078" block\n'
    )
    policy = guardrails.loads(rules, "u.rules", sinks=[sink])

    payload = ToolPostInvokePayload(name="t", result=_Unreadable())
    context = GlobalContext(request_id="r", user="u1")
    violation = _through_cpex(policy, "tool_post_invoke", payload, context)
    sink.close()
    assert violation.code == "GUARDRAIL_ERROR"
    rows = [json.loads(line) for line in _written(path).splitlines()]
    assert rows and all(r["verdict"] == "error" for r in rows)
    assert "078-05" not in _written(path)
    assert rows[0]["error"] == "ValueError: [not logged: it may show the call's facts]"


def test_a_haystack_block_reason_that_comes_back_as_exit_reason_is_logged_as_written():
    """Haystack hands a block's reason back to the next points as `exit_reason`, a fact
    no capture masks (rules compare it with "max_agent_steps"): a call record and a
    reason showing it write the block's reason as the log wrote it."""
    import os

    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage

    from guardrails.testing.haystack import ScriptedChatGenerator

    rules = (
        'rule refuse on before_run when prompt contains "ssn" block "refused {prompt}"\n'
        'rule ended on after_run when exit_reason != "text" warn "ended: {exit_reason}"\n'
    )
    sink = MemorySink()
    policy = guardrails.loads(rules, "h.rules", sinks=[sink], capture=True)
    agent = Agent(chat_generator=ScriptedChatGenerator(["ok"], 10), hooks=policy.haystack_hooks())
    result = agent.run(messages=[ChatMessage.from_user(SECRET)])
    assert result["exit_reason"] == f"refused {SECRET}"
    assert [r.reason for r in sink.records] == ["refused {prompt}", "ended: {exit_reason}"]
    (after,) = [c for c in sink.calls if c.hook == "after_run"]
    assert after.facts["exit_reason"] == "refused {prompt}"
    assert "078-05" not in json.dumps([r.to_dict() for r in sink.records + sink.calls])
