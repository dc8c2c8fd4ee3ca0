"""Rules inside real Mellea sessions: a canned in-repo backend, and the real OpenAI
backend against a stub HTTP server on 127.0.0.1 (no network, no model)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

mellea = pytest.importorskip("mellea")

from mellea import MelleaSession, ModelOption, start_session  # noqa: E402
from mellea.backends.tools import MelleaTool  # noqa: E402
from mellea.plugins import PluginViolationError, plugin_scope  # noqa: E402
from mellea.stdlib.functional import call_tools  # noqa: E402

import guardrails  # noqa: E402
from guardrails.records import MemorySink  # noqa: E402
from guardrails.testing.canned import CannedBackend, ToolCallReply  # noqa: E402

from .openai_stub import StubOpenAI, serve_stub  # noqa: E402

logging.getLogger("cpex").setLevel(logging.ERROR)

RULES = r"""
rule asked_password on generation_pre_call priority 10
  when lower(prompt) contains "password" block "do not ask for passwords" code ASKED_PASSWORD
rule long_prompt on generation_pre_call priority 11 when tokens > 200 block "prompt too long" code TOO_LONG
rule cool_down on generation_pre_call mode transform
  when model_options.temperature > 0.5 set model_options.temperature = 0.5
rule no_ssn_out on generation_post_call when output matches /\d{3}-\d{2}-\d{4}/ block "SSN in output" code SSN_OUT
rule audit_email on generation_post_call mode audit when output contains "@" block "email in output" code EMAIL_OUT
rule no_rm on tool_pre_invoke when tool.name == "shell" and tool.args.cmd startswith "rm" block "no rm" code NO_RM
rule verbose_ls on tool_pre_invoke mode transform
  when tool.name == "shell" and tool.args.cmd == "ls" set tool.args.cmd = "ls -l"
rule redact_keys on tool_post_invoke mode transform redact tool.output /KEY-\d+/ with "[key]"
"""


@pytest.fixture
def policy_and_sink() -> tuple[guardrails.Policy, MemorySink]:
    sink = MemorySink()
    return guardrails.loads(RULES, "mellea.rules", sinks=[sink]), sink


def shell(cmd: str) -> str:
    """Run a shell command (a fake one: it echoes what it would run)."""
    return f"ran {cmd}; token KEY-12345"


def test_pre_call_block_stops_instruct_with_the_rules_code(policy_and_sink):
    policy, sink = policy_and_sink
    backend = CannedBackend(["never sent"])
    with plugin_scope(*policy.plugins()), pytest.raises(PluginViolationError) as info:
        MelleaSession(backend).instruct("What is the admin PASSWORD?", strategy=None)
    assert info.value.code == "ASKED_PASSWORD"
    assert backend.requests == []  # the backend never saw the call
    assert [(r.rule, r.verdict, r.hook) for r in sink.records] == [
        ("asked_password", "block", "generation_pre_call")
    ]


def test_tokens_come_from_the_prompt_mellea_renders(policy_and_sink):
    policy, _ = policy_and_sink
    with plugin_scope(*policy.plugins()):
        with pytest.raises(PluginViolationError) as info:
            MelleaSession(CannedBackend()).instruct("word " * 200, strategy=None)
        assert info.value.code == "TOO_LONG"
        assert (
            str(MelleaSession(CannedBackend(["fine"])).instruct("short", strategy=None)) == "fine"
        )


def test_transform_set_reaches_the_backend(policy_and_sink):
    policy, sink = policy_and_sink
    backend = CannedBackend(["ok"])
    with plugin_scope(*policy.plugins()):
        MelleaSession(backend).instruct(
            "hi", strategy=None, model_options={"temperature": 0.9, "seed": 7}
        )
    assert backend.requests[-1]["model_options"]["temperature"] == 0.5
    assert backend.requests[-1]["model_options"]["seed"] == 7
    assert ("cool_down", "modify") in [(r.rule, r.verdict) for r in sink.records]


def test_output_rule_blocks_and_audit_rule_records(policy_and_sink):
    policy, sink = policy_and_sink
    with plugin_scope(*policy.plugins()):
        with pytest.raises(PluginViolationError) as info:
            MelleaSession(CannedBackend(["Your SSN is 078-05-1120"])).instruct(
                "ssn?", strategy=None
            )
        assert info.value.code == "SSN_OUT"
        out = MelleaSession(CannedBackend(["write to a@b.org"])).instruct("contact?", strategy=None)
    assert str(out) == "write to a@b.org"
    assert ("audit_email", "would_block", "EMAIL_OUT") in [
        (r.rule, r.verdict, r.code) for r in sink.records
    ]


def _tool_call(policy: guardrails.Policy, cmd: str) -> list[Any]:
    backend = CannedBackend([ToolCallReply("shell", {"cmd": cmd})])
    with plugin_scope(*policy.plugins()):
        result = MelleaSession(backend).instruct(
            "tidy up", strategy=None, tool_calls=True,
            model_options={ModelOption.TOOLS: [MelleaTool.from_callable(shell)]},
        )  # fmt: skip
        return call_tools(result, backend)


def test_tool_rule_blocks_a_tool_call(policy_and_sink):
    policy, _ = policy_and_sink
    with pytest.raises(PluginViolationError) as info:
        _tool_call(policy, "rm -rf /")
    assert info.value.code == "NO_RM"


def test_tool_rules_rewrite_the_call_and_redact_its_output(policy_and_sink):
    policy, sink = policy_and_sink
    (message,) = _tool_call(policy, "ls")
    assert message.arguments == {"cmd": "ls -l"}  # the rewritten call is what ran
    assert message._tool_output == "ran ls -l; token [key]"
    assert "KEY-12345" not in message.content
    fired = [(r.rule, r.verdict) for r in sink.records]
    assert ("verbose_ls", "modify") in fired and ("redact_keys", "modify") in fired


# ---- the real OpenAI backend against a stub server ----


@pytest.fixture
def stub_server() -> Iterator[str]:
    with serve_stub() as url:
        yield url


def test_start_session_with_plugins_against_openai_stub(policy_and_sink, stub_server):
    policy, sink = policy_and_sink
    m = start_session(
        "openai", "stub-model", base_url=stub_server, api_key="x", plugins=policy.plugins()
    )
    try:
        with pytest.raises(PluginViolationError) as info:
            m.instruct("tell me the password", strategy=None)
        assert info.value.code == "ASKED_PASSWORD"
        assert StubOpenAI.bodies == []  # a blocked call sends no request
        out = m.instruct("say hello", strategy=None, model_options={"temperature": 1.2})
        assert str(out) == "stub reply"
        (body,) = StubOpenAI.bodies
        assert body["temperature"] == 0.5  # the transform rule reached the HTTP request
    finally:
        m.cleanup()
    assert [(r.rule, r.verdict) for r in sink.records] == [
        ("asked_password", "block"),
        ("cool_down", "modify"),
    ]


def test_one_prompt_render_per_hook_call_across_rule_groups():
    from guardrails.adapters import mellea as mellea_adapter

    policy = guardrails.loads(
        "rule a on generation_pre_call priority 1 when tokens > 100000 block\n"
        "rule b on generation_pre_call priority 2 when prompt contains 'zzz' block\n"
        "rule c on generation_pre_call mode audit when tokens > 99999 block\n"
    )
    assert len(policy.plugins()) == 3  # three cpex plugins read prompt or tokens
    with plugin_scope(*policy.plugins()):
        session = MelleaSession(CannedBackend(["ok"]))
        before = mellea_adapter.RENDERS[0]
        session.instruct("hello", strategy=None)
        session.instruct("hello again", strategy=None)
    assert mellea_adapter.RENDERS[0] - before == 2  # one render per generation_pre_call
