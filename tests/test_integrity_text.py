"""What `matches` sees is what `redact` rewrites, and a verdict never claims a change it
did not make: text of every host value, raw control characters, keys, models."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

import pytest
from cpex.framework import GlobalContext, ResourcePostFetchPayload
from pydantic import BaseModel

import guardrails
from guardrails.runtime.text import text

logging.getLogger("cpex").setLevel(logging.ERROR)

KEY = "AKIAIOSFODNN7EXAMPLE"
REDACT = 'let keys = [/AKIA[A-Z0-9]{16}/]\nrule r on tool_post_invoke mode transform\n  when text(tool.output) matches keys\n  redact tool.output keys with "[KEY]"\n  warn "key redacted" code KEY\n'


def out(policy: guardrails.Policy, output: object) -> guardrails.Verdict:
    return policy.evaluate("tool_post_invoke", {"tool": {"name": "t", "output": output}})


def test_text_keeps_control_characters_raw():
    assert text({"cmd": "rm\t-rf /"}) == '{"cmd": "rm\t-rf /"}'
    assert text(["a\nb", 1, 2.5, True, None]) == '["a\nb", 1, 2.5, true, null]'
    policy = guardrails.loads(
        "rule r on tool_pre_invoke when text(tool.args) matches /rm\\s+-rf/ block 'x' code RM\n"
    )
    for cmd in ("rm\t-rf /", "rm\n-rf /", "rm \u00a0-rf /"[:2] + " -rf /"):
        verdict = policy.evaluate("tool_pre_invoke", {"tool": {"name": "sh", "args": {"c": cmd}}})
        assert verdict.outcome == "block", repr(cmd)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ValueError("disk full"), '"ValueError: disk full"'),
        (b"caf\xc3\xa9", '"caf\u00e9"'),
        (b"\xff\xfe", '"\ufffd\ufffd"'),
        ({3, 1, 2}, "[1, 2, 3]"),
        ({1: "a", "b": 2}, '{"1": "a", "b": 2}'),
        (object.__new__(type("Thing", (), {"__str__": lambda self: "thing!"})), '"thing!"'),
    ],
)
def test_text_renders_every_value_a_host_can_hand_us(value, expected):
    assert text({"x": value}) == '{"x": ' + expected + "}"


def test_text_of_a_value_that_contains_itself_is_a_rule_error_not_a_crash():
    loop: list[object] = []
    loop.append(loop)
    policy = guardrails.loads(
        "rule r on tool_post_invoke when text(tool.output) contains 'x' block\n"
    )
    verdict = out(policy, loop)
    assert verdict.rule("r").verdict == "error" and verdict.outcome == "block"


def test_a_secret_in_a_key_is_redacted_not_just_reported():
    verdict = out(guardrails.loads(REDACT), {KEY: "x", "other": "y"})
    assert verdict.outcome == "modify" and verdict.rule("r").verdict == "modify"
    assert KEY not in json.dumps(verdict.payload)
    assert verdict.payload["tool"]["output"] == {"[KEY]": "x", "other": "y"}


def test_a_match_across_a_key_and_its_value_redacts_both():
    policy = guardrails.load("rules/secrets.rules")
    verdict = out(policy, {"password": "hunter2secret", "user": "bob"})
    assert verdict.outcome == "modify", verdict.rules
    assert "hunter2secret" not in json.dumps(verdict.payload)
    assert verdict.payload["tool"]["output"]["user"] == "bob"


def test_two_keys_redacted_to_the_same_text_both_survive():
    keys = {KEY: 1, KEY.replace("E", "F"): 2}
    redacted = out(guardrails.loads(REDACT), keys).payload["tool"]["output"]
    assert sorted(redacted.values()) == [1, 2] and len(redacted) == 2
    assert not any("AKIA" in k for k in redacted)


def test_a_number_that_matches_is_redacted_too():
    policy = guardrails.loads(
        "rule r on tool_post_invoke mode transform redact tool.output /\\d{16}/ with '[CARD]'\n"
    )
    verdict = out(policy, {"card": 4111111111111111, "n": 7})
    assert verdict.payload["tool"]["output"] == {"card": "[CARD]", "n": 7}


def test_redact_with_an_empty_replacement_removes_the_match():
    policy = guardrails.loads(
        "rule r on tool_post_invoke mode transform redact tool.output /secret/ with ''\n"
    )
    assert out(policy, "a secret b").payload["tool"]["output"] == "a  b"


def test_a_redaction_that_changes_nothing_is_not_reported_as_a_change():
    policy = guardrails.loads(
        "rule r on tool_post_invoke mode transform redact tool.output /secret/\n"
        "rule s on tool_post_invoke mode transform priority 200 set tool.output = 'same'\n"
    )
    for value in (None, "nothing here", {"a": 1}):
        verdict = out(policy, value)
        assert verdict.rule("r").verdict == "pass" and verdict.rule("r").changes == (), value
    same = out(policy, "same")
    assert same.outcome == "allow" and same.rule("s").verdict == "pass"
    only_redact = guardrails.loads(
        "rule r on tool_post_invoke mode transform redact tool.output /secret/\n"
    )
    missing = only_redact.evaluate("tool_post_invoke", {"tool": {"name": "t"}})
    assert missing.outcome == "allow" and "output" not in missing.payload["tool"]


class Content(BaseModel):
    """Shaped like the gateway's ResourceContent."""

    type: str = "resource"
    uri: str
    text: str | None = None


@dataclasses.dataclass
class Reply:
    body: str
    status: int = 200


def test_redaction_reaches_pydantic_models_and_dataclasses_and_keeps_their_class():
    policy = guardrails.loads(REDACT)
    model = out(policy, Content(uri="file:///k", text=f"key {KEY}")).payload["tool"]["output"]
    assert isinstance(model, Content) and model.text == "key [KEY]"
    reply = out(policy, Reply(body=f"key {KEY}")).payload["tool"]["output"]
    assert isinstance(reply, Reply) and reply.body == "key [KEY]"
    error = out(policy, ValueError(f"bad key {KEY}")).payload["tool"]["output"]
    assert error == "ValueError: bad key [KEY]"


def test_a_resource_content_model_is_redacted_through_a_real_cpex_manager():
    policy = guardrails.loads(
        "rule r on resource_post_fetch mode transform redact content /AKIA[A-Z0-9]{16}/ with '[KEY]'\n"
    )

    async def go() -> object:
        manager = await policy.manager(timeout=5)
        payload = ResourcePostFetchPayload(
            uri="file:///k", content=Content(uri="file:///k", text=f"the key {KEY}")
        )
        result, _ = await manager.invoke_hook(
            "resource_post_fetch", payload, GlobalContext(request_id="r")
        )
        return result.modified_payload

    modified = asyncio.run(go())
    assert modified is not None
    assert isinstance(modified.content, Content) and modified.content.text == "the key [KEY]"


def test_a_value_with_shared_parts_stops_rendering_at_the_size_cap():
    """`x = [x, x]` twenty-five times is small in memory and 2**25 leaves as text."""
    value: object = "a"
    for _ in range(25):
        value = [value, value]
    policy = guardrails.loads(
        "rule r on tool_post_invoke when text(tool.output) contains 'b' block\n",
        max_match_chars=10_000,
    )
    verdict = out(policy, value)
    assert verdict.rule("r").verdict == "error" and "limit" in (verdict.rule("r").error or "")
    assert verdict.outcome == "block"
