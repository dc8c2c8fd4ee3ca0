"""Decisions as span events in the caller's trace, with the real OpenTelemetry SDK's
in-memory exporter, through each host path: Policy.evaluate, a real cpex manager,
a Mellea session."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from cpex.framework import GlobalContext, ToolPreInvokePayload
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import guardrails

logging.getLogger("cpex").setLevel(logging.ERROR)
SECRET = "hunter2-SECRET"
RULES = """
rule no_rm on tool_pre_invoke priority 1
  when tool.args.cmd startswith "rm" block "no rm: {tool.args.cmd}" code NO_RM
rule shout on tool_pre_invoke priority 2 mode audit
  when tool.args.cmd contains "SECRET" block "a secret in {tool.args.cmd}" code SECRET
rule no_secret on generation_pre_call priority 1
  when prompt contains "SECRET" block "secret: {prompt}" code SECRET
rule note on generation_pre_call when tokens > 1 warn "long prompt" code LONG
rule cool on generation_pre_call mode transform
  when model_options.temperature > 0.5 set model_options.temperature = 0.5
"""


@pytest.fixture
def traced() -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def _events(exporter: InMemorySpanExporter, name: str) -> list[dict[str, Any]]:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    assert all(e.name == "guardrails.decision" for e in span.events)
    return [dict(e.attributes) for e in span.events]


def _no_payload_text(exporter: InMemorySpanExporter) -> None:
    dumped = json.dumps(
        [[dict(e.attributes) for e in s.events] for s in exporter.get_finished_spans()]
    )
    assert "hunter2" not in dumped and "rm -rf" not in dumped


def test_a_cpex_hook_calls_decisions_are_events_on_the_callers_span(traced):
    tracer, exporter = traced
    policy = guardrails.loads(RULES, "t.rules", capture=True)

    async def call() -> Any:
        manager = await policy.manager()
        payload = ToolPreInvokePayload(name="shell", args={"cmd": f"rm -rf / {SECRET}"})
        with tracer.start_as_current_span("gateway request"):
            result, _ = await manager.invoke_hook(
                "tool_pre_invoke", payload, GlobalContext(request_id="r1")
            )
        return result

    result = asyncio.run(call())
    assert result.violation.code == "NO_RM"
    (event,) = _events(exporter, "gateway request")  # audit never ran: the block came first
    assert event["guardrails.rule"] == "no_rm" and event["guardrails.verdict"] == "block"
    assert event["guardrails.outcome"] == "block" and event["guardrails.code"] == "NO_RM"
    assert event["guardrails.reason"] == "no rm: {tool.args.cmd}"  # as written, not filled
    assert (
        event["guardrails.hook"] == "tool_pre_invoke" and event["guardrails.mode"] == "sequential"
    )
    assert event["guardrails.location"] == "t.rules:2" and len(event["guardrails.call_id"]) == 16
    _no_payload_text(exporter)


def test_policy_evaluate_adds_every_decision_in_rule_order(traced):
    tracer, exporter = traced
    policy = guardrails.loads(RULES, "t.rules")
    with tracer.start_as_current_span("app"):
        policy.evaluate(
            "generation_pre_call", {"prompt": "hello", "model_options": {"temperature": 0.9}}
        )
        policy.evaluate("tool_pre_invoke", {"tool": {"name": "x", "args": {"cmd": "ls"}}})
        policy.evaluate("generation_pre_call", {"prompt": f"say {SECRET}"})
    events = _events(exporter, "app")  # the allowed tool call added nothing
    assert [(e["guardrails.rule"], e["guardrails.verdict"]) for e in events] == [
        ("note", "warn"),
        ("cool", "modify"),
        ("no_secret", "block"),
    ]
    assert events[1]["guardrails.changes"] == ("model_options.temperature",)
    assert [e["guardrails.outcome"] for e in events] == ["modify", "modify", "block"]
    assert events[2]["guardrails.reason"] == "secret: {prompt}"
    _no_payload_text(exporter)
    policy.evaluate("generation_pre_call", {"prompt": SECRET})  # no span current: no error
    assert len(exporter.get_finished_spans()) == 1


def test_a_mellea_sessions_block_is_an_event_on_its_span(traced):
    pytest.importorskip("mellea")
    from mellea import MelleaSession
    from mellea.plugins import PluginViolationError, plugin_scope

    from guardrails.testing.canned import CannedBackend

    tracer, exporter = traced
    policy = guardrails.loads(RULES, "t.rules")
    scope = plugin_scope(*policy.plugins())
    with tracer.start_as_current_span("session"), scope, pytest.raises(PluginViolationError):
        MelleaSession(CannedBackend(["never"])).instruct(f"say {SECRET}", strategy=None)
    (event,) = _events(exporter, "session")
    assert (event["guardrails.rule"], event["guardrails.verdict"]) == ("no_secret", "block")
    assert event["guardrails.hook"] == "generation_pre_call"
    _no_payload_text(exporter)


def test_without_tracing_nothing_of_opentelemetry_is_imported():
    code = (
        "import sys, guardrails; p = guardrails.loads('rule r on generation_pre_call warn')\n"
        "p.evaluate('generation_pre_call', {'prompt': 'x'})\n"
        "print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
