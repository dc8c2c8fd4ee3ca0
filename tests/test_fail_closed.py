"""The fail-closed matrix: mode x on_error x failure kind, through a real cpex manager.

docs/security.md has the same table; this file is what keeps it true.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from cpex.framework import GlobalContext, PluginError, PluginPayload, ToolPreInvokePayload

import guardrails
from guardrails.records import MemorySink

logging.getLogger("cpex").setLevel(logging.ERROR)


class BrokenMapping(Mapping[str, Any]):
    """Tool arguments that blow up when read (a hostile or buggy host object)."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:  # cpex's payload size check calls len(); let it pass
        return 1


class ProbePayload(PluginPayload):
    """A host payload cpex does not inspect itself (it pre-reads `args`/`result`)."""

    name: str
    data: Any = None


CATALOG = guardrails.Catalog.builtin()
CATALOG.register_hook("fc_probe", payload=ProbePayload, writable=["data"], facts={"tokens": "int"})


def slow_tokenizer(text: str) -> int:
    time.sleep(0.05)
    return len(text)


# failure kind -> (condition, action for modes that may set, the payload's data)
KINDS: dict[str, tuple[str, str | None, Any]] = {
    "fact extraction raises": ("data.n == 1", None, BrokenMapping()),
    "type error in condition": ("data.n > 3", None, {"n": "not a number"}),
    "action fails": ("name == 't'", "set data.n.deep = 1", {"n": "a string"}),
    "time budget exceeded": ("tokens(name) > 0", None, {"n": 1}),
}
ACTIONS = {
    "sequential": "block",
    "concurrent": "block",
    "audit": "block",
    "transform": "set data.seen = true",
    "fire_and_forget": "warn",
}
# (mode, on_error) -> what the caller sees
EXPECTED = {
    ("sequential", "fail"): "blocked",
    ("sequential", "ignore"): "allowed",
    ("concurrent", "fail"): "blocked",
    ("concurrent", "ignore"): "allowed",
    ("transform", "fail"): "PluginError",
    ("transform", "ignore"): "allowed",
    ("audit", "fail"): "allowed",
    ("fire_and_forget", "fail"): "allowed",
}
CASES = [
    (mode, on_error, kind)
    for (mode, on_error) in EXPECTED
    for kind in KINDS
    if not (kind == "action fails" and mode not in ("sequential", "transform"))
]


def run_case(mode: str, on_error: str, kind: str) -> tuple[str, list[str]]:
    condition, action, args = KINDS[kind]
    action = action or ACTIONS[mode]
    text = f"rule r on fc_probe mode {mode} on_error {on_error} when {condition} {action}\n"
    sink = MemorySink()
    policy = guardrails.loads(
        text, sinks=[sink], tokenizer=slow_tokenizer, time_budget_ms=10, catalog=CATALOG
    )

    async def call() -> str:
        manager = await policy.manager(timeout=5)
        payload = ProbePayload.model_construct(name="t", data=args)
        try:
            result, _ = await manager.invoke_hook(
                "fc_probe", payload, GlobalContext(request_id="m")
            )
        except PluginError:
            return "PluginError"
        await result.wait_for_background_tasks()
        if not result.continue_processing:
            assert result.violation.code == "GUARDRAIL_ERROR"
            return "blocked"
        return "allowed"

    seen = asyncio.run(call())
    return seen, [r.verdict for r in sink.records]


@pytest.mark.parametrize(
    ("mode", "on_error", "kind"), CASES, ids=[f"{m}-{o}-{k}" for m, o, k in CASES]
)
def test_fail_closed_matrix(mode, on_error, kind):
    seen, recorded = run_case(mode, on_error, kind)
    assert seen == EXPECTED[(mode, on_error)]
    assert recorded == ["error"]  # every failure is a decision record


def test_cpex_timeouts_cannot_strand_a_call():
    """Our handlers never await, so cpex's timeout cannot interrupt them half-way;
    the time budget bounds them instead, and that is an error verdict."""
    sink = MemorySink()

    def very_slow(text: str) -> int:
        time.sleep(0.3)
        return 1

    policy = guardrails.loads(
        "rule r on tool_pre_invoke when tokens(tool.name) > 0 block\n",
        sinks=[sink], tokenizer=very_slow, time_budget_ms=100,
    )  # fmt: skip

    async def call() -> Any:
        manager = await policy.manager(timeout=0.1)
        return await manager.invoke_hook(
            "tool_pre_invoke",
            ToolPreInvokePayload(name="t", args={}),
            GlobalContext(request_id="x"),
        )

    result, _ = asyncio.run(call())
    assert result.continue_processing is False and result.violation.code == "GUARDRAIL_ERROR"
    assert "time budget of 100 ms" in result.violation.details["error"]
    assert [r.verdict for r in sink.records] == ["error"]


def test_no_budget_means_no_budget_errors():
    policy = guardrails.loads(
        "rule r on tool_pre_invoke when tokens(tool.name) > 100 block\n",
        tokenizer=slow_tokenizer, time_budget_ms=None,
    )  # fmt: skip
    assert policy.evaluate("tool_pre_invoke", {"tool": {"name": "t"}}).outcome == "allow"
