"""Async host functions in async hosts: a real cpex manager and a real Haystack Agent
run the engine off the loop and the function on it, so the loop keeps serving other
tasks while the function awaits (a ticker on the loop must tick for it to finish)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

import pytest

import guardrails

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
logging.getLogger("cpex").setLevel(logging.ERROR)


class Ticks:
    """A ticker task on the loop; `waits` finishes only once it has ticked, so a loop
    blocked by the rules would make the host function time out (an `error` verdict)."""

    def __init__(self) -> None:
        self.count = 0
        self.enough: asyncio.Event | None = None
        self.loop_threads: list[int] = []
        self.function_threads: list[int] = []

    async def run(self) -> None:
        self.loop_threads.append(threading.get_ident())
        while True:
            await asyncio.sleep(0.001)
            self.count += 1
            if self.count >= 3 and self.enough is not None:
                self.enough.set()

    async def waits(self, text: str) -> bool:
        self.function_threads.append(threading.get_ident())
        assert self.enough is not None
        await self.enough.wait()
        return text == "bad"


def test_async_function_in_cpex_does_not_block_the_loop():
    ticks = Ticks()
    waits = {"slow_verdict": ticks.waits}
    policy = guardrails.loads(
        'rule r on tool_pre_invoke when slow_verdict(tool.name) block "judged bad" code BAD\n',
        functions=waits,
        time_budget_ms=None,
    )

    async def main() -> list[Any]:
        from cpex.framework import GlobalContext

        manager = await policy.manager()
        ticks.enough = asyncio.Event()
        ticker = asyncio.create_task(ticks.run())
        out = []
        for name in ("bad", "good"):
            ticks.enough.clear()
            ticks.count = 0
            payload = {"tool": {"name": name, "args": {}}}
            result, _ = await manager.invoke_hook(
                "tool_pre_invoke", payload, GlobalContext(request_id=name)
            )
            out.append(result)
        ticker.cancel()
        return out

    bad, good = asyncio.run(main())
    assert bad.continue_processing is False and bad.violation.code == "BAD"
    assert good.continue_processing and good.violation is None
    # the function ran on the host's loop thread, while the engine ran elsewhere
    assert set(ticks.function_threads) == set(ticks.loop_threads)


def test_async_function_in_a_haystack_agent_run_async():
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage

    from guardrails.testing.haystack import ScriptedChatGenerator

    ticks = Ticks()
    waits = {"slow_verdict": ticks.waits}
    policy = guardrails.loads(
        'rule r on on_exit when not slow_verdict(last_message.text) continue "try again"\n',
        functions=waits,
        time_budget_ms=None,
    )

    async def main() -> Any:
        ticks.enough = asyncio.Event()
        ticker = asyncio.create_task(ticks.run())
        generator = ScriptedChatGenerator(["good", "bad"])
        agent = Agent(chat_generator=generator, hooks=policy.haystack_hooks(), max_agent_steps=4)
        result = await agent.run_async(messages=[ChatMessage.from_user("answer")])
        ticker.cancel()
        return result, generator

    result, generator = asyncio.run(main())
    # "good" is not "bad": the exit is refused once, then the answer "bad" ends the run
    assert generator.calls == 2 and result["last_message"].text == "bad"
    assert set(ticks.function_threads) == set(ticks.loop_threads)


@pytest.mark.parametrize("host", ["cpex"])
def test_a_sync_function_in_an_async_host_runs_off_the_loop(host):
    seen: list[int] = []

    def blocking(text: str) -> bool:
        seen.append(threading.get_ident())
        return False

    policy = guardrails.loads(
        "rule r on tool_pre_invoke when blocking(tool.name) block\n",
        functions=[blocking],
        time_budget_ms=None,
    )

    async def main() -> int:
        from cpex.framework import GlobalContext

        manager = await policy.manager()
        await manager.invoke_hook(
            "tool_pre_invoke", {"tool": {"name": "x"}}, GlobalContext(request_id="1")
        )
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert seen and loop_thread not in seen


def test_the_groups_of_one_cpex_hook_call_share_its_host_function_results():
    calls: list[str] = []

    def verdict(name: str) -> bool:
        calls.append(name)
        return name == "bad"

    policy = guardrails.loads(
        'rule a on tool_pre_invoke priority 10 when verdict(tool.name) warn "first"\n'
        'rule b on tool_pre_invoke priority 20 when verdict(tool.name) block "second"\n'
        'rule c on tool_pre_invoke mode audit when verdict(tool.name) block "third"\n',
        functions=[verdict],
        time_budget_ms=None,
    )

    async def main() -> Any:
        from cpex.framework import GlobalContext

        manager = await policy.manager()
        out = []
        for request in ("1", "2"):
            payload = {"tool": {"name": "bad", "args": {}}}
            result, _ = await manager.invoke_hook(
                "tool_pre_invoke", payload, GlobalContext(request_id=request)
            )
            out.append(result)
        return out

    first, _ = asyncio.run(main())
    assert first.violation is not None and first.violation.details["rule"] == "b"
    assert calls == ["bad", "bad"]  # three groups, two hook calls: asked once per call


def test_policy_aevaluate_keeps_the_loop_serving():
    ticks = Ticks()
    policy = guardrails.loads(
        "rule r on tool_pre_invoke when slow_verdict(tool.name) block\n",
        functions={"slow_verdict": ticks.waits},
        time_budget_ms=None,
    )

    async def main() -> Any:
        ticks.enough = asyncio.Event()
        ticker = asyncio.create_task(ticks.run())
        verdict = await policy.aevaluate("tool_pre_invoke", {"tool": {"name": "bad"}})
        ticker.cancel()
        return verdict

    assert asyncio.run(main()).blocked_by == "r"
    assert set(ticks.function_threads) == set(ticks.loop_threads)
