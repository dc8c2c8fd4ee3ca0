"""Reasons with facts in them: `block "tool {tool.name} is not allowed"`."""

from __future__ import annotations

import asyncio

import pytest
from cpex.framework import GlobalContext, ToolPreInvokePayload

import guardrails
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
