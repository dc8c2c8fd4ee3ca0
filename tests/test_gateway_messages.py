"""Message edits (`append`, `prepend`, `replace`) on `agent_pre_invoke` in the shapes
ContextForge's gateway (1.0.7) and its own `Message` class give, through a real cpex
manager: a new or replaced message is built like the gateway's, and a message the
gateway's class cannot hold fails the rule closed instead of being reported as made.
(The gateway's A2A service itself reads back only `parameters` and `headers`:
docs/hosts.md.)"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from typing import Any

import pytest
from cpex.framework import AgentPreInvokePayload, GlobalContext

import guardrails

logging.getLogger("cpex").setLevel(logging.CRITICAL)


def run(rules: str, payload: Any) -> Any:
    policy = guardrails.loads(rules, "gateway.rules")

    async def go() -> Any:
        manager = await policy.manager(timeout=5)
        result, _ = await manager.invoke_hook(
            "agent_pre_invoke", payload, GlobalContext(request_id="r")
        )
        return result

    return asyncio.run(go())


def gateway_models() -> Any:
    os.environ.setdefault("JWT_SECRET_KEY", secrets.token_urlsafe(48))
    return pytest.importorskip("mcpgateway.common.models")


A2A = {"message": {"role": "user", "parts": [{"kind": "text", "text": "key SECRETabc"}]}}


def test_the_a2a_request_message_is_replaced_by_plain_text_and_a_new_one_added():
    """The gateway sends the raw A2A params as the content: a replaced message's text
    and a new message's cannot take that shape, so they are plain strings."""
    rules = """
rule scrub on agent_pre_invoke replace messages /SECRET\\w+/ with "[withheld]"
rule note on agent_pre_invoke append {"role": "system", "text": "Be brief."} to messages
"""
    payload = AgentPreInvokePayload(agent_id="a", messages=[{"role": "user", "content": A2A}])
    result = run(rules, payload)
    assert result.modified_payload.model_dump()["messages"] == [
        {"role": "user", "content": "[withheld]"},
        {"role": "system", "content": "Be brief."},
    ]


def test_gateway_message_objects_are_built_in_their_class():
    models = gateway_models()
    text = models.TextContent(type="text", text="hello")
    payload = AgentPreInvokePayload(
        agent_id="a", messages=[models.Message(role=models.Role.USER, content=text)]
    )
    rules = 'rule r on agent_pre_invoke append {"role": "assistant", "text": "noted"} to messages\n'
    new = run(rules, payload).modified_payload.messages
    assert new[0] is payload.messages[0]
    assert isinstance(new[1], models.Message) and new[1].role == models.Role.ASSISTANT
    assert new[1].content.text == "noted" and new[1].content.type == "text"


def test_a_role_the_gateway_class_cannot_hold_fails_closed():
    """The gateway's `Role` has no `system`: the rule errors (and blocks, sequential),
    and no modified payload claims a message the host could not take."""
    models = gateway_models()
    text = models.TextContent(type="text", text="hello")
    payload = AgentPreInvokePayload(
        agent_id="a", messages=[models.Message(role=models.Role.USER, content=text)]
    )
    rules = 'rule r on agent_pre_invoke prepend {"role": "system", "text": "x"} to messages\n'
    result = run(rules, payload)
    assert result.continue_processing is False
    assert result.violation.code == "GUARDRAIL_ERROR"
    assert result.modified_payload is None
