"""The cpex binding through a real TenantPluginManager: modes, priorities, policies, errors."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from cpex.framework import (
    GlobalContext,
    Plugin,
    PluginConfig,
    PluginError,
    PluginResult,
    PluginViolation,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
)

import guardrails
from guardrails.adapters.cpex.binding import RulesPlugin, decisions
from guardrails.records import MemorySink

logging.getLogger("cpex").setLevel(logging.ERROR)

TOOL_RULES = """
rule deny_shell on tool_pre_invoke priority 10
  when tool.name == "shell" unless user.role == "admin"
  block "no shell" code NO_SHELL
rule later_seq on tool_pre_invoke priority 20 when tool.name == "shell" warn "seen" code LATER
rule tag_args on tool_pre_invoke mode transform priority 5 set tool.args.checked = true
rule audit_search on tool_pre_invoke mode audit when tool.name == "search" block "would stop search" code AUDIT_SEARCH
rule conc_block on tool_pre_invoke mode concurrent when tool.name == "delete" block "no delete" code NO_DELETE
"""


def invoke(manager: Any, hook: str, payload: Any, **ctx: Any) -> tuple[Any, Any]:
    return asyncio.run(manager.invoke_hook(hook, payload, GlobalContext(request_id="req-1", **ctx)))


def make(text: str, **kwargs: Any) -> tuple[guardrails.Policy, Any, MemorySink]:
    sink = MemorySink()
    policy = guardrails.loads(text, "cpex.rules", sinks=[sink], **kwargs)
    manager = asyncio.run(policy.manager(timeout=5))
    return policy, manager, sink


def test_one_plugin_per_mode_and_priority_group():
    policy = guardrails.loads(
        "rule a on tool_pre_invoke priority 10 warn\n"
        "rule b on generation_pre_call priority 10 warn\n"
        "rule c on tool_pre_invoke priority 20 warn\n"
        "rule d on tool_pre_invoke mode audit priority 10 warn\n"
    )
    plugins = policy.plugins()
    summary = {(p.name.split(":", 1)[1], tuple(p.config.hooks)) for p in plugins}
    assert summary == {
        ("sequential@10", ("generation_pre_call", "tool_pre_invoke")),
        ("sequential@20", ("tool_pre_invoke",)),
        ("audit@10", ("tool_pre_invoke",)),
    }
    assert all(isinstance(p, RulesPlugin) for p in plugins)
    seq10 = next(p for p in plugins if p.name.endswith("sequential@10"))
    assert (seq10.config.mode.value, seq10.config.priority, seq10.config.on_error.value) == (
        "sequential",
        10,
        "fail",
    )
    audit = next(p for p in plugins if p.name.endswith("audit@10"))
    assert audit.config.on_error.value == "ignore"
    assert len({p.name for p in plugins}) == len(plugins)


def test_thousand_rules_in_one_group_are_one_plugin():
    text = "".join(
        f"rule r{i} on tool_pre_invoke when tool.name == 't{i}' block\n" for i in range(1000)
    )
    assert len(guardrails.loads(text).plugins()) == 1


def test_sequential_block_stops_later_plugins_and_reports_violation():
    policy, manager, sink = make(TOOL_RULES)
    result, _ = invoke(
        manager,
        "tool_pre_invoke",
        ToolPreInvokePayload(name="shell", args={"cmd": "ls"}),
        user="guest",
    )
    assert result.continue_processing is False
    v = result.violation
    assert (v.code, v.reason) == ("NO_SHELL", "no shell")
    assert v.details["rule"] == "deny_shell" and v.details["location"] == "cpex.rules:2"
    assert v.description == "no shell (rule deny_shell, tool_pre_invoke)"
    assert v.details["ruleset"] == policy.ruleset_hash
    ran = [e.plugin_name.split(":")[1] for e in result.executions]
    assert ran == ["sequential@10..20"]  # one plugin for both priorities; no later phase ran
    assert [(r.rule, r.verdict, r.request_id) for r in sink.records] == [
        ("deny_shell", "block", "req-1")
    ]


def test_transform_modifies_payload_and_later_rules_see_it():
    _, manager, sink = make(TOOL_RULES)
    payload = ToolPreInvokePayload(name="shell", args={"cmd": "ls"})
    result, _ = invoke(manager, "tool_pre_invoke", payload, user={"role": "admin"})
    assert result.continue_processing is True
    assert result.modified_payload.args == {"cmd": "ls", "checked": True}
    assert payload.args == {"cmd": "ls"}  # the caller's payload is untouched
    assert [(r.rule, r.verdict) for r in sink.records] == [
        ("later_seq", "warn"),
        ("tag_args", "modify"),
    ]


def test_audit_records_would_block_and_allows():
    _, manager, sink = make(TOOL_RULES)
    result, _ = invoke(manager, "tool_pre_invoke", ToolPreInvokePayload(name="search", args={}))
    assert result.continue_processing is True and result.violation is None
    found = [(d["rule"], d["verdict"], d["code"]) for d in decisions(result)]
    assert ("audit_search", "would_block", "AUDIT_SEARCH") in found
    assert ("audit_search", "would_block") in [(r.rule, r.verdict) for r in sink.records]


def test_concurrent_blocks_without_modifying():
    _, manager, _ = make(TOOL_RULES)
    result, _ = invoke(
        manager, "tool_pre_invoke", ToolPreInvokePayload(name="delete", args={"path": "/"})
    )
    assert result.continue_processing is False
    assert result.violation.code == "NO_DELETE"


def test_shadow_load_never_blocks_through_cpex():
    _, manager, _ = make(TOOL_RULES, shadow=["deny_*"])
    result, _ = invoke(
        manager, "tool_pre_invoke", ToolPreInvokePayload(name="shell", args={}), user="guest"
    )
    assert result.continue_processing is True
    assert ("deny_shell", "would_block") in [(d["rule"], d["verdict"]) for d in decisions(result)]


class ThirdParty(Plugin):
    """A hand-written plugin that records the order it ran in."""

    seen: list[str] = []

    async def tool_pre_invoke(self, payload: Any, context: Any) -> PluginResult[Any]:
        ThirdParty.seen.append(payload.name)
        if payload.name == "blocked_by_third_party":
            return PluginResult(
                continue_processing=False,
                violation=PluginViolation(reason="3p", description="third party", code="THIRD"),
            )
        return PluginResult()


def test_priority_order_against_a_third_party_plugin():
    _, manager, _ = make(
        "rule early on tool_pre_invoke priority 10 when tool.name == 'x' block 'early' code EARLY\n"
        "rule late on tool_pre_invoke priority 30 when tool.name == 'blocked_by_third_party' block 'late' code LATE\n"
        "rule late_x on tool_pre_invoke priority 30 when tool.name == 'y' block 'late' code LATE_Y\n"
    )
    third = ThirdParty(
        PluginConfig(name="third", kind="tests.ThirdParty", hooks=["tool_pre_invoke"], priority=20)
    )
    manager._registry.register(third)
    ThirdParty.seen.clear()
    # an early rule blocks before the third party runs
    result, _ = invoke(manager, "tool_pre_invoke", ToolPreInvokePayload(name="x", args={}))
    assert result.violation.code == "EARLY" and ThirdParty.seen == []
    # the third party (priority 20) blocks before the late rule group (priority 30)
    result, _ = invoke(
        manager, "tool_pre_invoke", ToolPreInvokePayload(name="blocked_by_third_party", args={})
    )
    assert result.violation.code == "THIRD" and ThirdParty.seen == ["blocked_by_third_party"]
    # and otherwise the late rules run after it
    result, _ = invoke(manager, "tool_pre_invoke", ToolPreInvokePayload(name="y", args={}))
    assert result.violation.code == "LATE_Y" and ThirdParty.seen[-1] == "y"
    order = [e.plugin_name for e in result.executions]
    assert order.index("third") < order.index(next(n for n in order if n.endswith("@30")))


class Renamer(Plugin):
    """A third-party transform that tries to change a field the hook does not allow."""

    async def tool_post_invoke(self, payload: Any, context: Any) -> PluginResult[Any]:
        return PluginResult(modified_payload=payload.model_copy(update={"name": "renamed"}))


def test_writable_field_policy_is_installed_and_honoured():
    _, manager, _ = make("rule r on tool_post_invoke mode transform redact tool.output /secret/\n")
    renamer = Renamer(
        PluginConfig(
            name="renamer",
            kind="tests.Renamer",
            hooks=["tool_post_invoke"],
            mode="transform",
            priority=1,
        )
    )
    manager._registry.register(renamer)
    result, _ = invoke(
        manager, "tool_post_invoke", ToolPostInvokePayload(name="t", result="a secret b")
    )
    assert result.modified_payload.result == "a [REDACTED] b"  # writable: applied
    assert result.modified_payload.name == "t"  # not writable on tool_post_invoke: rejected by cpex


def test_rule_error_fails_closed_in_sequential_group():
    _, manager, sink = make("rule r on tool_pre_invoke when tool.args.n > 3 block 'big'\n")
    result, _ = invoke(
        manager, "tool_pre_invoke", ToolPreInvokePayload(name="t", args={"n": "not a number"})
    )
    assert result.continue_processing is False
    assert result.violation.code == "GUARDRAIL_ERROR"
    assert "cannot compare str > int" in result.violation.details["error"]
    assert [(r.rule, r.verdict) for r in sink.records] == [("r", "error")]


def test_rule_error_in_transform_group_raises_plugin_error():
    _, manager, sink = make(
        "rule t on tool_pre_invoke mode transform when tool.args.n > 3 set tool.args.n = 3\n"
    )
    with pytest.raises(PluginError):
        invoke(manager, "tool_pre_invoke", ToolPreInvokePayload(name="t", args={"n": "x"}))
    assert [(r.rule, r.verdict) for r in sink.records] == [("t", "error")]


def test_rule_error_in_audit_group_lets_the_call_through():
    _, manager, sink = make("rule a on tool_pre_invoke mode audit when tool.args.n > 3 block\n")
    result, _ = invoke(manager, "tool_pre_invoke", ToolPreInvokePayload(name="t", args={"n": "x"}))
    assert result.continue_processing is True
    assert [(r.rule, r.verdict) for r in sink.records] == [("a", "error")]


def test_unreadable_payload_fails_closed():
    class Broken:
        model_fields = {"name": None}

        @property
        def name(self) -> str:
            raise RuntimeError("cannot read")

    policy = guardrails.loads("rule r on tool_pre_invoke when tool.name == 'x' block\n")
    (plugin,) = policy.plugins()
    result = asyncio.run(plugin.tool_pre_invoke(Broken(), None))
    assert result.continue_processing is False and result.violation.code == "GUARDRAIL_ERROR"


def test_same_rules_work_on_dict_payloads():
    policy = guardrails.loads(TOOL_RULES)
    plugins = {p.name.split(":")[1]: p for p in policy.plugins()}
    result = asyncio.run(
        plugins["sequential@10"].tool_pre_invoke({"tool": {"name": "shell"}}, None)
    )
    assert result.violation.code == "NO_SHELL"


def test_register_needs_an_initialized_manager():
    from cpex.framework import TenantPluginManager
    from cpex.framework.models import Config

    policy = guardrails.loads("rule r on tool_pre_invoke block\n")
    with pytest.raises(guardrails.GuardrailsError, match="initialize"):
        policy.register(TenantPluginManager(Config(plugins=[])))
