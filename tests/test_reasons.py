"""Reasons with facts in them: `block "tool {tool.name} is not allowed"`."""

from __future__ import annotations

import asyncio

import pytest
from cpex.framework import GlobalContext, ToolPreInvokePayload

import guardrails
from guardrails.records import Capture, JsonlSink, MemorySink
from guardrails.tooling.fmt import format_text

RULES = """
rule deny on tool_pre_invoke when tool.name == "shell"
  block "tool {tool.name} is not allowed for {user.role}" code TOOL_DENIED
rule arg on tool_pre_invoke when tool.name == "mail" warn "to {tool.args['to']}, first cc {tool.args.cc[0]}"
rule braces on tool_pre_invoke when tool.name == "x" block "use {{name}} literally"
rule shadowed on tool_pre_invoke mode audit when tool.name == "audit_me" block "would stop {tool.name}"
"""


@pytest.fixture(scope="module")
def policy():
    return guardrails.loads(RULES, "reasons.rules")


def test_a_block_reason_shows_the_facts(policy):
    v = policy.evaluate("tool_pre_invoke", {"tool": {"name": "shell"}, "user": {"role": "guest"}})
    assert (v.outcome, v.code, v.reason) == (
        "block",
        "TOOL_DENIED",
        "tool shell is not allowed for guest",
    )


def test_a_missing_fact_shows_as_null_and_the_rule_still_decides(policy):
    v = policy.evaluate("tool_pre_invoke", {"tool": {"name": "shell"}})
    assert (v.outcome, v.reason) == ("block", "tool shell is not allowed for null")


def test_warn_reasons_and_index_paths(policy):
    facts = {"tool": {"name": "mail", "args": {"to": "a@x.io", "cc": ["b@y.io"]}}}
    (result,) = [r for r in policy.evaluate("tool_pre_invoke", facts).rules if r.verdict == "warn"]
    assert result.reason == "to a@x.io, first cc b@y.io"


def test_doubled_braces_are_braces(policy):
    assert (
        policy.evaluate("tool_pre_invoke", {"tool": {"name": "x"}}).reason == "use {name} literally"
    )


def test_a_shadowed_block_records_the_rendered_reason(policy):
    v = policy.evaluate("tool_pre_invoke", {"tool": {"name": "audit_me"}})
    assert v.outcome == "allow"
    assert [(r.verdict, r.reason) for r in v.would_block] == [
        ("would_block", "would stop audit_me")
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("line1\nline2\x1b[31m", "line1 line2 [31m"),  # control characters cannot break a log line
        ("x" * 500, "x" * 200 + "…"),  # one value cannot fill a response
        ({"k": [1, True, None]}, '{"k": [1, true, null]}'),  # the value's text, as `text()` has it
        ("\uff53\uff48\uff45\uff4c\uff4c", "\uff53\uff48\uff45\uff4c\uff4c"),  # as sent
    ],
)
def test_values_are_shown_safely(value, shown):
    p = guardrails.loads('on tool_pre_invoke when tool.name == "t" block "got {tool.args}"')
    assert (
        p.evaluate("tool_pre_invoke", {"tool": {"name": "t", "args": value}}).reason
        == f"got {shown}"
    )


def test_a_value_too_big_to_render_is_an_ellipsis_not_an_error():
    p = guardrails.loads('on tool_pre_invoke when tool.name == "t" block "got {tool.args}"')
    huge = {"k": ["y" * 1000] * 50}
    v = p.evaluate("tool_pre_invoke", {"tool": {"name": "t", "args": huge}})
    assert (v.outcome, v.rules[0].verdict, v.reason) == ("block", "block", "got …")


def test_the_reason_reaches_a_cpex_host(policy):
    """Through a real manager, where facts are read lazily: a fact only the reason
    names (`user`, from the GlobalContext) must be read too."""

    async def go():
        manager = await policy.manager(timeout=5)
        payload = ToolPreInvokePayload(name="shell", args={})
        context = GlobalContext(request_id="r", user={"role": "guest"})
        result, _ = await manager.invoke_hook("tool_pre_invoke", payload, context)
        await manager.shutdown()
        return result

    violation = asyncio.run(go()).violation
    assert violation.code == "TOOL_DENIED"
    assert violation.reason == "tool shell is not allowed for guest"


def test_fmt_keeps_the_template_as_written():
    text = 'on tool_pre_invoke block "no {tool.name} {{x}}"\n'
    assert format_text(text, "r.rules")[0] == text


def test_the_highlighter_marks_interpolations_in_reasons_only():
    from pygments.token import String

    from guardrails.tooling.highlight import RulesLexer

    src = 'on tool_pre_invoke when tool.name == "{x}" block "no {tool.name} \\" {{y}}" code C\n'
    strings = [(t, v) for t, v in RulesLexer().get_tokens(src) if t in String]
    assert (String.Double, '"{x}"') in strings  # a condition's string is plain text
    assert (String.Interpol, "{tool.name}") in strings
    assert (String.Escape, "{{") in strings and (String.Escape, '\\"') in strings
    assert strings[-1] == (String.Double, '"')  # the escaped quote did not end the reason


LEAKY = """
rule echo on agent_pre_invoke when tokens > 2
  block "refused {prompt} ({tokens} tokens) for {user.role} after {messages[0].content}"
rule echo_output on tool_post_invoke when text(tool.output) contains "AKIA"
  block "tool {tool.name} returned {tool.output}" code KEY
"""
SECRET = "my ssn is 078-05-1120"
AGENT_FACTS = {
    "prompt": SECRET,
    "user": {"role": "guest"},
    "messages": [{"role": "user", "content": "earlier " + SECRET}],
}


def _log(path):
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("capture", [None, True])
def test_a_reason_shows_the_caller_private_text_but_the_log_writes_it_as_written(tmp_path, capture):
    """The caller may see its own prompt in a reason; the decision log, which the
    capture keeps free of conversation text, must not get it back through one."""
    path = tmp_path / "decisions.jsonl"
    sink = JsonlSink(path)
    policy = guardrails.loads(LEAKY, "leaky.rules", sinks=[sink], capture=capture)
    verdict = policy.evaluate("agent_pre_invoke", AGENT_FACTS)
    sink.close()
    assert verdict.reason == f"refused {SECRET} (6 tokens) for guest after earlier {SECRET}"
    (decision,) = [r for r in _log(path) if r["kind"] == "decision"]
    assert decision["reason"] == "refused {prompt} (6 tokens) for guest after {messages[0].content}"
    assert "078-05" not in path.read_text()


def test_what_the_capture_keeps_or_drops_decides_what_a_reason_logs(tmp_path):
    kept, dropped = MemorySink(), MemorySink()
    loud = guardrails.loads(LEAKY, sinks=[kept], capture=Capture(mask=()))
    quiet = guardrails.loads(LEAKY, sinks=[dropped], capture=Capture(mask=(), drop=("user",)))
    loud.evaluate("agent_pre_invoke", AGENT_FACTS)
    quiet.evaluate("agent_pre_invoke", AGENT_FACTS)
    assert [r.reason for r in kept.records] == [
        f"refused {SECRET} (6 tokens) for guest after earlier {SECRET}"
    ]
    assert [r.reason for r in dropped.records] == [
        f"refused {SECRET} (6 tokens) for {{user.role}} after earlier {SECRET}"
    ]


def test_a_cpex_host_gets_the_reason_and_its_log_does_not(tmp_path):
    from cpex.framework import ToolPostInvokePayload

    path = tmp_path / "decisions.jsonl"
    sink = JsonlSink(path)
    policy = guardrails.loads(LEAKY, "leaky.rules", sinks=[sink], capture=True)

    async def go():
        manager = await policy.manager(timeout=5)
        payload = ToolPostInvokePayload(name="fetch", result={"text": "AKIAXYZ secret"})
        result, _ = await manager.invoke_hook(
            "tool_post_invoke", payload, GlobalContext(request_id="r")
        )
        await manager.shutdown()
        return result

    violation = asyncio.run(go()).violation
    sink.close()
    assert violation.reason == 'tool fetch returned {"text": "AKIAXYZ secret"}'
    (decision,) = [r for r in _log(path) if r["kind"] == "decision"]
    assert decision["reason"] == "tool fetch returned {tool.output}"
    assert "AKIAXYZ" not in path.read_text()
