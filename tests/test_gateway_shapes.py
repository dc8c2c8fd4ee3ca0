"""The payloads ContextForge's gateway (1.0.7) hands cpex hooks, through a real cpex
manager: what a rule reads from each shape, and that a `set`/`redact` reaches the
gateway in the shape it reads back (a verdict must never report a change the host
did not receive).

cpex's own payload classes carry the gateway's values here: ToolResult and
PromptResult as the dicts the gateway dumps them to, a resource as a dict of
ResourceContent's fields. Where the gateway's own classes decide the shape (a
ResourceContent object, `PromptResult.model_validate` of what a plugin returned),
the tests import them from `mcpgateway` and skip when it is not installed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
import warnings
from typing import Any

import pytest
from cpex.framework import (
    AgentPostInvokePayload,
    AgentPreInvokePayload,
    GlobalContext,
    HttpAuthCheckPermissionPayload,
    HttpAuthResolveUserPayload,
    HttpHeaderPayload,
    HttpPostRequestPayload,
    HttpPreRequestPayload,
    PluginViolation,
    PromptPosthookPayload,
    ResourcePostFetchPayload,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
)

import guardrails
from guardrails.adapters.cpex.binding import decisions

logging.getLogger("cpex").setLevel(logging.CRITICAL)

SECRET = r"/SECRET\w+/"


def run(rules: str, hook: str, payload: Any) -> Any:
    policy = guardrails.loads(rules, "gateway.rules")

    async def go() -> Any:
        manager = await policy.manager(timeout=5)
        result, _ = await manager.invoke_hook(hook, payload, GlobalContext(request_id="r"))
        return result

    return asyncio.run(go())


def fired(result: Any) -> dict[str, str]:
    return {d["rule"]: d["verdict"] for d in decisions(result)}


def gateway() -> Any:
    """mcpgateway.common.models, or a skip (the main env has no gateway)."""
    os.environ.setdefault("JWT_SECRET_KEY", secrets.token_urlsafe(48))
    return pytest.importorskip("mcpgateway.common.models")


def tool_result(text: str) -> dict[str, Any]:
    """`ToolResult.model_dump(by_alias=True)`, as the gateway sends it."""
    part = {"type": "text", "text": text, "annotations": None, "_meta": None}
    return {"content": [part], "isError": False, "structuredContent": None, "_meta": None}


# ---- tool_post_invoke: a ToolResult dict ----

REDACT_TOOL = f"""
rule r on tool_post_invoke mode transform
  when text(tool.output) matches {SECRET}
  redact tool.output {SECRET} with "[X]"
"""


def test_tool_result_text_parts_are_redacted_in_place():
    payload = ToolPostInvokePayload(name="t", result=tool_result("key SECRETabc here"))
    result = run(REDACT_TOOL, "tool_post_invoke", payload)
    assert fired(result) == {"r": "modify"}
    assert result.modified_payload.result == tool_result("key [X] here")


def test_tool_result_from_the_gateway_class_round_trips():
    models = gateway()
    original = models.ToolResult(content=[models.TextContent(type="text", text="a SECRETb")])
    payload = ToolPostInvokePayload(name="t", result=original.model_dump(by_alias=True))
    new = run(REDACT_TOOL, "tool_post_invoke", payload).modified_payload.result
    # what the gateway does with a modified result that has `content`
    rebuilt = models.ToolResult(content=new["content"], structured_content=new["structuredContent"])
    assert rebuilt.content[0].text == "a [X]"


def test_withholding_tool_output_gives_the_gateway_a_string():
    rules = "rule w on tool_post_invoke mode transform when text(tool.output) matches /SECRET/\n"
    rules += '  set tool.output = "withheld"\n'
    payload = ToolPostInvokePayload(name="t", result=tool_result("SECRET"))
    # the gateway turns a result without `content` into one text part
    assert run(rules, "tool_post_invoke", payload).modified_payload.result == "withheld"


# ---- prompt_post_fetch: a PromptResult dump (cpex makes it StructuredData) ----

PROMPT = {
    "messages": [{"role": "user", "content": {"type": "text", "text": "p SECRETdef"}}],
    "description": None,
}
REDACT_PROMPT = f"""
rule r on prompt_post_fetch mode transform when output matches {SECRET}
  redact result {SECRET} with "[X]"
"""


def test_prompt_result_is_read_and_redacted_in_its_shape():
    result = run(
        REDACT_PROMPT, "prompt_post_fetch", PromptPosthookPayload(prompt_id="p", result=PROMPT)
    )
    assert fired(result) == {"r": "modify"}
    new = result.modified_payload.result
    assert new.model_dump()["messages"][0]["content"] == {"type": "text", "text": "p [X]"}


def test_prompt_result_from_the_gateway_class_round_trips():
    models = gateway()
    text = models.TextContent(type="text", text="p SECRETdef")
    original = models.PromptResult(messages=[models.Message(role=models.Role.USER, content=text)])
    payload = PromptPosthookPayload(prompt_id="p", result=original.model_dump())
    new = run(REDACT_PROMPT, "prompt_post_fetch", payload).modified_payload.result
    back = models.PromptResult.model_validate(new.model_dump())  # the gateway's coercion
    assert back.messages[0].content.text == "p [X]"
    assert back.messages[0].role == models.Role.USER


# ---- resource_post_fetch: a ResourceContent ----

REDACT_RESOURCE = f"""
rule r on resource_post_fetch mode transform when output matches {SECRET}
  redact content {SECRET} with "[X]"
"""
BINARY = "rule bin on resource_post_fetch when output == null block 'binary'\n"


def resource(**fields: Any) -> dict[str, Any]:
    return {"type": "resource", "id": "1", "uri": "file:///a", **fields}


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("plain SECRETa", "plain SECRETa"),
        (resource(text="t SECRETa"), "t SECRETa"),
        (resource(blob=b"raw SECRETa"), "raw SECRETa"),
        (resource(blob=base64.b64encode(b"b64 SECRETa").decode()), "b64 SECRETa"),
    ],
    ids=["string", "text", "bytes-blob", "base64-blob"],
)
def test_resource_text_and_utf8_blobs_are_output(content, text):
    rule = f"rule o on resource_post_fetch when output == {text!r} block 'seen'\n"
    payload = ResourcePostFetchPayload(uri="file:///a", content=content)
    assert run(rule, "resource_post_fetch", payload).violation.details["rule"] == "o"


def test_binary_resource_has_null_output():
    payload = ResourcePostFetchPayload(uri="file:///a", content=resource(blob=b"\xff\xfe\x00"))
    result = run(BINARY, "resource_post_fetch", payload)
    assert result.violation.code == "GUARDRAIL_BLOCK"


def test_resource_content_object_stays_a_resource_content():
    models = gateway()
    for content in (
        models.ResourceContent(type="resource", id="1", uri="file:///a", text="r SECRETghi"),
        models.ResourceContent(type="resource", id="1", uri="file:///a", blob=b"b SECRETjkl"),
        models.TextResourceContents(uri="file:///a", text="t SECRETmno"),
    ):
        payload = ResourcePostFetchPayload(uri="file:///a", content=content)
        result = run(REDACT_RESOURCE, "resource_post_fetch", payload)
        assert fired(result) == {"r": "modify"}
        new = result.modified_payload.content
        assert type(new) is type(content)
        assert "[X]" in str(new.text if new.text is not None else new.blob)
        assert "SECRET" not in str(new.model_dump())


def test_base64_blob_is_seen_and_can_be_blocked():
    models = gateway()
    blob = base64.b64encode(b"SECRETpqr").decode()
    content = models.BlobResourceContents(uri="file:///a", blob=blob)
    rule = f"rule b on resource_post_fetch when output matches {SECRET} block 'secret'\n"
    result = run(
        rule, "resource_post_fetch", ResourcePostFetchPayload(uri="file:///a", content=content)
    )
    assert result.violation.code == "GUARDRAIL_BLOCK"


def test_a_secret_in_a_base64_blob_is_redacted_and_goes_back_as_base64():
    models = gateway()
    blob = base64.b64encode(b"key SECRETpqr here").decode()
    payload = ResourcePostFetchPayload(
        uri="file:///a", content=models.BlobResourceContents(uri="file:///a", blob=blob)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no serializer warning: the blob stays a string
        result = run(REDACT_RESOURCE, "resource_post_fetch", payload)
    assert fired(result) == {"r": "modify"}
    new = result.modified_payload.content
    assert type(new) is models.BlobResourceContents
    assert base64.b64decode(new.blob, validate=True) == b"key [X] here"


def test_a_base64_blob_a_rule_does_not_change_goes_back_as_it_came():
    models = gateway()
    blob = base64.b64encode(b"plain text").decode()
    content = models.BlobResourceContents(uri="file:///a", blob=blob)
    result = run(
        REDACT_RESOURCE,
        "resource_post_fetch",
        ResourcePostFetchPayload(uri="file:///a", content=content),
    )
    assert fired(result) == {} and result.modified_payload is None


def test_a_binary_blob_is_left_as_the_host_sent_it():
    models = gateway()
    blob = base64.b64encode(b"\xff\xfe SECRETabc").decode()
    rule = f"rule r on resource_post_fetch mode transform when uri != '' redact content {SECRET} with 'x'\n"
    content = models.BlobResourceContents(uri="file:///a", blob=blob)
    result = run(
        rule, "resource_post_fetch", ResourcePostFetchPayload(uri="file:///a", content=content)
    )
    assert result.modified_payload is None  # not text: nothing a redaction can honestly rewrite


def test_setting_resource_text_keeps_the_class():
    models = gateway()
    content = models.ResourceContent(type="resource", id="1", uri="file:///a", blob=b"x")
    rule = 'rule w on resource_post_fetch mode transform when uri != "" set content = "withheld"\n'
    payload = ResourcePostFetchPayload(uri="file:///a", content=content)
    new = run(rule, "resource_post_fetch", payload).modified_payload.content
    assert isinstance(new, models.ResourceContent)
    assert (new.text, new.blob, new.id) == ("withheld", None, "1")


# ---- tool_pre_invoke: name and headers are writable ----


def test_tool_name_and_headers_are_read_and_written_back():
    rules = """
rule rename on tool_pre_invoke mode transform
  when tool.name == "old" and headers["x-tenant"] == "t1"
  set tool.name = "new"
  set headers["x-guarded"] = "yes"
"""
    headers = HttpHeaderPayload({"x-tenant": "t1"})
    payload = ToolPreInvokePayload(name="old", args={"q": 1}, headers=headers)
    new = run(rules, "tool_pre_invoke", payload).modified_payload
    assert new.name == "new"
    # the gateway reads `headers.root`: a plain dict would be dropped
    assert isinstance(new.headers, HttpHeaderPayload)
    assert new.headers.root == {"x-tenant": "t1", "x-guarded": "yes"}
    assert new.args == {"q": 1}


# ---- agent hooks: A2A params as message content ----


def test_agent_messages_with_raw_a2a_params_are_read():
    rules = f"""
rule pre on agent_pre_invoke when prompt matches {SECRET} block "pre"
rule post on agent_post_invoke when output matches {SECRET} block "post"
"""
    params = {"message": {"role": "user", "parts": [{"kind": "text", "text": "SECRETa2a"}]}}
    pre = AgentPreInvokePayload(agent_id="a", messages=[{"role": "user", "content": params}])
    assert run(rules, "agent_pre_invoke", pre).violation.details["rule"] == "pre"
    answer = {"result": {"parts": [{"kind": "text", "text": "SECRETb"}]}}
    post = AgentPostInvokePayload(agent_id="a", messages=[{"role": "assistant", "content": answer}])
    assert run(rules, "agent_post_invoke", post).violation.details["rule"] == "post"


# ---- violations carry an HTTP status ----


def test_violations_carry_an_http_status_for_the_gateway():
    assert "http_status_code" in PluginViolation.model_fields
    rules = """
rule no_shell on tool_pre_invoke when tool.name == "shell" block "no shell"
rule broken on tool_pre_invoke when tool.args.n > 1 block "never"
"""
    blocked = run(rules, "tool_pre_invoke", ToolPreInvokePayload(name="shell", args={}))
    assert (blocked.violation.code, blocked.violation.http_status_code) == ("GUARDRAIL_BLOCK", 403)
    failed = run(rules, "tool_pre_invoke", ToolPreInvokePayload(name="x", args={"n": "s"}))
    assert (failed.violation.code, failed.violation.http_status_code) == ("GUARDRAIL_ERROR", 500)


# ---- the http_* hooks ----

HTTP_RULES = """
rule pre on http_pre_request when path == "/admin" and method == "POST" and headers["x-debug"] == "1"
  block "no debug on admin" code PRE
rule post on http_post_request when status_code == 500 and response_headers["server"] == "leaky"
  block "leaky" code POST
rule who on http_auth_resolve_user when credentials.scheme == "basic" and headers["host"] == "gw"
  block "no basic auth" code WHO
rule may on http_auth_check_permission when permission == "admin.delete" and not is_admin
  block "not an admin" code MAY
"""


def test_http_hooks_read_their_payload_facts():
    headers = HttpHeaderPayload({"x-debug": "1", "host": "gw"})
    cases = [
        ("http_pre_request", "PRE", HttpPreRequestPayload(path="/admin", method="POST", headers=headers)),
        ("http_post_request", "POST", HttpPostRequestPayload(
            path="/x", method="GET", headers=headers, status_code=500,
            response_headers=HttpHeaderPayload({"server": "leaky"}))),
        ("http_auth_resolve_user", "WHO", HttpAuthResolveUserPayload(
            credentials={"scheme": "basic", "credentials": "x"}, headers=headers)),
        ("http_auth_check_permission", "MAY", HttpAuthCheckPermissionPayload(
            user_email="a@b.c", permission="admin.delete", is_admin=False)),
    ]  # fmt: skip
    for hook, code, payload in cases:
        result = run(HTTP_RULES, hook, payload)
        assert result.violation is not None, hook
        assert (result.violation.code, result.violation.http_status_code) == (code, 403)
