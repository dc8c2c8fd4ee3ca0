"""Mellea call paths beyond the plain session call: tools that raise or return odd
values, plugins handed to a session across reloads, and two documented paths where
Mellea does not surface a block (pinned here so the docs stay true)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

mellea = pytest.importorskip("mellea")

from mellea import MelleaSession, ModelOption  # noqa: E402
from mellea.backends.tools import MelleaTool  # noqa: E402
from mellea.plugins import PluginViolationError, plugin_scope  # noqa: E402
from mellea.stdlib.functional import call_tools  # noqa: E402
from mellea.stdlib.requirements import req, simple_validate  # noqa: E402
from mellea.stdlib.sampling import RejectionSamplingStrategy  # noqa: E402

import guardrails  # noqa: E402
from guardrails.testing.canned import CannedBackend, ToolCallReply  # noqa: E402

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("fancy_logger").setLevel(logging.CRITICAL)
KEY = "AKIAIOSFODNN7EXAMPLE"


class Opaque:
    def __str__(self) -> str:
        return f"an object holding {KEY}"


def raises(cmd: str) -> str:
    """A tool that fails."""
    raise ValueError(f"cannot read {KEY}")


def returns_bytes(cmd: str) -> bytes:
    """A tool returning bytes."""
    return f"key {KEY}".encode()


def returns_set(cmd: str) -> set[str]:
    """A tool returning a set."""
    return {KEY, "x"}


def returns_object(cmd: str) -> Opaque:
    """A tool returning an object of its own."""
    return Opaque()


def run_tool(policy: guardrails.Policy, tool: Any) -> list[Any]:
    backend = CannedBackend([ToolCallReply(tool.__name__, {"cmd": "x"})])
    with plugin_scope(*policy.plugins()):
        result = MelleaSession(backend).instruct(
            "go", strategy=None, tool_calls=True,
            model_options={ModelOption.TOOLS: [MelleaTool.from_callable(tool)]},
        )  # fmt: skip
        return call_tools(result, backend)


@pytest.mark.parametrize("tool", [raises, returns_bytes, returns_set, returns_object])
def test_any_tool_result_is_read_and_its_secrets_redacted(tool):
    """A tool that raises or returns bytes, a set or its own object used to make the
    secrets rule fail, and the whole turn with it."""
    (message,) = run_tool(guardrails.load("rules/secrets.rules"), tool)
    assert KEY not in message.content and "[REDACTED SECRET]" in message.content


def test_session_plugins_follow_a_reload_and_fail_closed_when_they_no_longer_fit():
    policy = guardrails.loads(
        "rule p on generation_pre_call priority 10 when prompt contains 'pw' block 'no' code PW\n"
    )
    backend = CannedBackend(["ok"])
    with plugin_scope(*policy.plugins()):
        session = MelleaSession(backend)
        with pytest.raises(PluginViolationError) as first:
            session.instruct("my pw", strategy=None)
        policy.reload(
            "rule p on generation_pre_call priority 10 when prompt contains 'secret' block 'no' code SECRET\n"
        )
        with pytest.raises(PluginViolationError) as followed:
            session.instruct("a secret", strategy=None)
        policy.reload(
            "rule p on generation_pre_call priority 20 when prompt contains 'secret' block 'no' code SECRET\n"
        )
        with pytest.raises(PluginViolationError) as stale:
            session.instruct("anything at all", strategy=None)
    assert (first.value.code, followed.value.code, stale.value.code) == (
        "PW",
        "SECRET",
        "GUARDRAIL_STALE",
    )


def test_pinned_a_block_inside_a_sampling_loop_is_swallowed_by_mellea():
    """Mellea's sampling strategies catch a violation in a later attempt and return an
    earlier attempt's result: the blocked output never reaches the caller, but neither
    does the violation (docs/hosts.md)."""
    policy = guardrails.loads(
        "rule ssn on generation_post_call when output matches /\\d{3}-\\d{2}-\\d{4}/ block 'ssn' code SSN\n"
    )
    backend = CannedBackend(["too short", "my SSN is 123-45-6789, which is long enough"])
    longer = req("long", validation_fn=simple_validate(lambda text: len(text) > 20))
    with plugin_scope(*policy.plugins()):
        result = MelleaSession(backend).instruct(
            "write", requirements=[longer], strategy=RejectionSamplingStrategy(loop_budget=2)
        )
    assert str(result) == "too short"


def test_pinned_call_func_runs_a_tool_without_tool_hooks():
    """Only `call_tools`/`acall_tools` fire tool hooks; `ModelToolCall.call_func()`
    runs the tool directly (docs/hosts.md)."""
    ran: list[str] = []

    def shell(cmd: str) -> str:
        """Run a command."""
        ran.append(cmd)
        return "done"

    policy = guardrails.loads(
        "rule no on tool_pre_invoke when tool.name == 'shell' block 'no' code NO\n"
    )
    backend = CannedBackend([ToolCallReply("shell", {"cmd": "rm -rf /"})])
    with plugin_scope(*policy.plugins()):
        result = MelleaSession(backend).instruct(
            "go", strategy=None, tool_calls=True,
            model_options={ModelOption.TOOLS: [MelleaTool.from_callable(shell)]},
        )  # fmt: skip
        with pytest.raises(PluginViolationError):
            call_tools(result, backend)
        assert ran == []
        (call,) = result.tool_calls
        call.call_func()
    assert ran == ["rm -rf /"]
