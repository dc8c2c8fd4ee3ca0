"""Every normalized fact the catalog advertises on a hook comes out of that hook's real
payloads: a rule on an advertised fact that can never see a value would silently
never fire (a 200,000-character batch prompt once passed the token budget so).

Each (hook, payload) pair is a real payload class of Mellea or cpex, filled as the
host fills it, sent through a real cpex manager; one audit rule per advertised fact
records whether the fact had a value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from cpex.framework import (
    AgentPostInvokePayload,
    AgentPreInvokePayload,
    GlobalContext,
    PromptPosthookPayload,
    ResourcePostFetchPayload,
)
from cpex.framework import ToolPostInvokePayload as CpexToolPost
from cpex.framework import ToolPreInvokePayload as CpexToolPre

import guardrails
from guardrails.adapters.cpex.binding import decisions
from guardrails.check.catalog import DEFAULT_CATALOG

mellea = pytest.importorskip("mellea")

from mellea.backends.tools import MelleaTool  # noqa: E402
from mellea.core import CBlock, ModelOutputThunk, ModelToolCall  # noqa: E402
from mellea.plugins.hooks import component, generation, session, streaming, tool  # noqa: E402
from mellea.stdlib.context import SimpleContext  # noqa: E402

logging.getLogger("cpex").setLevel(logging.CRITICAL)
OPTIONS = {"temperature": 0.5}


def search(q: str) -> str:
    """Search (a stand-in tool)."""
    return q


def _call() -> ModelToolCall:
    return ModelToolCall("search", MelleaTool.from_callable(search), {"q": "x"})


PAYLOADS: list[tuple[str, str, Callable[[], Any]]] = [
    ("generation_pre_call", "mellea", lambda: generation.GenerationPreCallPayload(
        action=CBlock("hello"), context=SimpleContext(), model_options=OPTIONS, model="m", provider="p")),
    ("generation_batch_pre_call", "mellea", lambda: generation.GenerationBatchPreCallPayload(
        actions=[CBlock("one"), CBlock("two")], model_options=OPTIONS, model="m", provider="p", num_actions=2)),
    ("component_pre_execute", "mellea", lambda: component.ComponentPreExecutePayload(
        action_id="a", component_type="CBlock", action=CBlock("hello"), context_view=[], model_options=OPTIONS)),
    ("session_pre_init", "mellea", lambda: session.SessionPreInitPayload(
        backend_name="ollama", model_id="m", model_options=OPTIONS, context_type="SimpleContext")),
    ("generation_post_call", "mellea", lambda: generation.GenerationPostCallPayload(
        prompt=[{"role": "user", "content": "hello"}], model_output=ModelOutputThunk("out"), latency_ms=1.0)),
    ("generation_batch_post_call", "mellea", lambda: generation.GenerationBatchPostCallPayload(
        model_outputs=[ModelOutputThunk("a"), ModelOutputThunk("b")], model="m", provider="p", latency_ms=1.0)),
    ("component_post_success", "mellea", lambda: component.ComponentPostSuccessPayload(
        action_id="a", component_type="CBlock", action=CBlock("x"), result=ModelOutputThunk("out"))),
    ("tool_pre_invoke", "mellea", lambda: tool.ToolPreInvokePayload(model_tool_call=_call())),
    ("tool_post_invoke", "mellea", lambda: tool.ToolPostInvokePayload(model_tool_call=_call(), tool_output="out")),
    ("streaming_end", "mellea", lambda: streaming.StreamingEndPayload(streaming_id="s", success=True, model="m", provider="p")),
    ("tool_pre_invoke", "cpex", lambda: CpexToolPre(name="search", args={"q": "x"})),
    ("tool_post_invoke", "cpex", lambda: CpexToolPost(name="search", result={"hits": 1})),
    ("agent_pre_invoke", "cpex", lambda: AgentPreInvokePayload(
        agent_id="a", messages=[{"role": "user", "content": {"type": "text", "text": "hello"}}],
        model="m", parameters=OPTIONS)),
    ("agent_post_invoke", "cpex", lambda: AgentPostInvokePayload(
        agent_id="a", messages=[{"role": "assistant", "content": [{"type": "text", "text": "out"}]}])),
    ("prompt_post_fetch", "cpex", lambda: PromptPosthookPayload(
        prompt_id="p", result={"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]})),
    # ContextForge's gateway sends a ResourceContent object (tests/test_gateway_shapes.py)
    ("resource_post_fetch", "cpex", lambda: ResourcePostFetchPayload(
        uri="file:///a", content={"type": "resource", "id": "1", "uri": "file:///a", "text": "hi"})),
]  # fmt: skip


# what a host's payload does not carry at all (documented in docs/hosts.md)
NOT_CARRIED = {("tool_post_invoke", "cpex"): {"tool.args"}}


def _normalized(hook: str) -> list[str]:
    spec = DEFAULT_CATALOG.get(hook)
    assert spec is not None
    return sorted(path for path, fact in spec.facts.items() if fact.kind == "normalized")


def test_every_hook_with_normalized_facts_has_a_real_payload_here():
    covered = {hook for hook, _, _ in PAYLOADS}
    advertised = {
        s.name for s in DEFAULT_CATALOG if DEFAULT_CATALOG.in_cpex(s.name) and _normalized(s.name)
    }
    assert advertised <= covered


@pytest.mark.parametrize(
    ("hook", "host", "make"), PAYLOADS, ids=[f"{h}-{o}" for h, o, _ in PAYLOADS]
)
def test_every_advertised_fact_has_a_value_on_the_real_payload(hook, host, make):
    facts = _normalized(hook)
    spec = DEFAULT_CATALOG.get(hook)
    assert spec is not None

    def present(fact: str) -> str:  # a value, and not an empty one
        kind = spec.facts[fact].type.kind
        if kind in ("str", "map", "list"):
            return f"len({fact}) > 0"
        return f"{fact} > 0" if kind == "int" else f"{fact} != null"

    text = "".join(
        f"rule f{i} on {hook} mode audit when {present(fact)} block 'present' code P{i}\n"
        for i, fact in enumerate(facts)
    )
    policy = guardrails.loads(text, "facts.rules")

    async def go() -> set[str]:
        manager = await policy.manager(timeout=5)
        result, _ = await manager.invoke_hook(hook, make(), GlobalContext(request_id="r"))
        return {
            facts[int(d["rule"][1:])] for d in decisions(result) if d["verdict"] == "would_block"
        }

    assert asyncio.run(go()) == set(facts) - NOT_CARRIED.get((hook, host), set())
