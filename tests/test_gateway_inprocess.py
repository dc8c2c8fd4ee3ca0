"""The ContextForge gateway's own plugin-manager path, in process: the manager comes from
the gateway's `init_plugin_manager_factory` (with its HOOK_PAYLOAD_POLICIES) over a
plugins.yaml of `kind: guardrails.cpex.RulesPlugin` entries, and each hook is called the
way the gateway's services call it, with the gateway's payload classes and shapes; the
results go back through the gateway's own coercions. Fast; test_gateway_e2e.py runs the
same rules through the real process. Skipped where the gateway is not installed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcpgateway")

from cpex.framework import (
    GlobalContext,
    HttpHeaderPayload,
    PluginViolationError,
    PromptPosthookPayload,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
)
from cpex.framework.hooks.resources import ResourcePostFetchPayload
from mcpgateway import plugins as gateway_plugins
from mcpgateway.common.models import (
    Message,
    PromptResult,
    ResourceContent,
    Role,
    TextContent,
    ToolResult,
)
from mcpgateway.plugins.policy import HOOK_PAYLOAD_POLICIES

from guardrails.records import read_records

from .test_gateway_e2e import KEY, PLUGINS, RULES, decisions, settings


@pytest.fixture(scope="module")
def gateway_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The gateway reads its settings (and `.env` from the working directory) once, on
    first use, and its modules connect to DATABASE_URL on import: give it a scratch
    directory and its own secrets before anything touches them."""
    work = tmp_path_factory.mktemp("gateway-settings")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for name, value in settings(work, work / "unused.yaml").items():
            patch.setenv(name, value)
        yield


@pytest.fixture
def manager(gateway_settings: None, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "gateway.rules").write_text(RULES)
    records = tmp_path / "decisions.jsonl"
    config = tmp_path / "plugins.yaml"
    config.write_text(PLUGINS.format(rules=rules, records=records))
    gateway_plugins.init_plugin_manager_factory(
        yaml_path=str(config), timeout=30, hook_policies=HOOK_PAYLOAD_POLICIES
    )
    gateway_plugins.enable_plugins(True)
    factory = gateway_plugins.get_plugin_manager_factory()
    assert factory is not None
    try:
        built = asyncio.run(factory.get_manager())
        assert built.plugin_count == 2
        yield built, records
    finally:
        asyncio.run(gateway_plugins.shutdown_plugin_manager_factory())


def invoke(manager: Any, hook: str, payload: Any, request_id: str = "r") -> Any:
    """As the gateway's services call it: violations raised, one global context."""

    async def go() -> Any:
        gctx = GlobalContext(request_id=request_id, user="guest@example.com")
        result, _ = await manager.invoke_hook(hook, payload, gctx, violations_as_exceptions=True)
        return result

    return asyncio.run(go())


def test_tool_pre_invoke_raises_the_gateway_violation_with_our_code(manager):
    built, records = manager
    shell = ToolPreInvokePayload(
        name="upstream-shell", args={"cmd": "rm -rf /"}, headers=HttpHeaderPayload(root={})
    )
    with pytest.raises(PluginViolationError) as raised:
        invoke(built, "tool_pre_invoke", shell)
    violation = raised.value.violation
    assert violation is not None and violation.code == "SHELL_DESTRUCTIVE"
    assert violation.details["rule"] == "no_destructive_shell"
    harmless = ToolPreInvokePayload(
        name="upstream-shell", args={"cmd": "ls"}, headers=HttpHeaderPayload(root={})
    )
    assert invoke(built, "tool_pre_invoke", harmless).continue_processing is True
    blocks = [r for r in read_records(records) if r["verdict"] == "block"]
    assert [(r["rule"], r["code"]) for r in blocks] == [
        ("no_destructive_shell", "SHELL_DESTRUCTIVE")
    ]


def test_a_tool_result_dump_is_redacted_and_still_a_tool_result(manager):
    built, _ = manager
    result = ToolResult(content=[TextContent(type="text", text=f"AWS_ACCESS_KEY_ID={KEY}")])
    payload = ToolPostInvokePayload(
        name="upstream-read-env", result=result.model_dump(by_alias=True)
    )
    modified = invoke(built, "tool_post_invoke", payload).modified_payload
    assert modified is not None
    back = ToolResult.model_validate(modified.result)
    assert [c.text for c in back.content] == ["AWS_ACCESS_KEY_ID=[AWS KEY]"]
    assert back.is_error is False


def test_a_prompt_result_is_redacted_and_coerced_back(manager):
    built, _ = manager
    from mcpgateway.services.prompt_service import (
        _coerce_plugin_prompt_result,
        _prompt_result_to_plugin_payload,
    )

    rendered = PromptResult(
        messages=[
            Message(role=Role.USER, content=TextContent(type="text", text=f"Deploy with {KEY}")),
            Message(role=Role.ASSISTANT, content=TextContent(type="text", text="nothing here")),
        ],
        description="deploy",
    )
    payload = PromptPosthookPayload(
        prompt_id="upstream-deploy", result=_prompt_result_to_plugin_payload(rendered)
    )
    modified = invoke(built, "prompt_post_fetch", payload).modified_payload
    assert modified is not None
    back = _coerce_plugin_prompt_result(modified.result)
    assert [m.content.text for m in back.messages] == ["Deploy with [AWS KEY]", "nothing here"]
    assert [m.role for m in back.messages] == [Role.USER, Role.ASSISTANT]
    assert back.description == "deploy"


def test_a_resource_content_object_is_redacted_in_place_of_its_class(manager):
    built, records = manager
    content = ResourceContent(
        type="resource", id="1", uri="config://app", mimeType="text/plain", text=f"key = {KEY}"
    )
    payload = ResourcePostFetchPayload(uri="config://app", content=content)
    modified = invoke(built, "resource_post_fetch", payload).modified_payload
    assert modified is not None
    assert isinstance(modified.content, ResourceContent)
    assert modified.content.text == "key = [AWS KEY]"
    assert (modified.content.id, modified.content.mime_type) == ("1", "text/plain")
    assert content.text == f"key = {KEY}"  # the gateway's object is not edited in place
    [record] = decisions(records, "redact_resource_keys")
    assert record["hook"] == "resource_post_fetch" and record["verdict"] == "modify"


def test_a_blob_resource_passes_untouched(manager):
    built, _ = manager
    content = ResourceContent(type="resource", id="2", uri="file:///b", blob=b"\x00\x01")
    payload = ResourcePostFetchPayload(uri="file:///b", content=content)
    result = invoke(built, "resource_post_fetch", payload)
    assert result.continue_processing is True and result.modified_payload is None
