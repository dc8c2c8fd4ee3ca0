"""What the other hosts cost: Haystack Agent hooks, and `guardrails serve` over MCP.

    python benchmarks/bench_hosts.py [--runs N] [--calls N] [--rounds R]

(H) One Haystack Agent run (scripted generator, no network: a tool call, then a text
reply, so before_run, before_llm x2, before_tool, after_tool, on_exit and after_run
fire) with: no hooks; three hand-written hooks doing the checks below; and
`policy.haystack_hooks()` for the three equivalent rules. Ratios against no hooks and
against the hand-written hooks.

(S) One tool_pre_invoke hook call through a cpex manager, for one rule: our plugin in
process, and the same rule in a `guardrails serve` process reached over MCP stdio.

(T, U) `guardrails serve --transport http` under 8 clients, `--workers 1` vs `2`, and
our share of a served call: benchmarks/bench_serve_http.py, run from here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from harness import measure, report

import guardrails

RULES = r"""
rule no_shell on before_tool when tool.name == "shell" block "no shell" code NO_SHELL
rule budget on before_llm when tokens > 100000 block "over budget" code BUDGET
rule hide_keys on after_tool mode transform redact tool.output /api_key=\w+/
"""
KEY = re.compile(r"api_key=\w+")


def haystack_cases(policy: Any) -> dict[str, Any]:
    from haystack.components.agents import Agent
    from haystack.components.agents.state.state_utils import replace_values
    from haystack.dataclasses import ChatMessage, ToolCall
    from haystack.tools import Tool

    from guardrails.testing.haystack import ScriptedChatGenerator

    class Hand:
        """A hand-written hook object (what a user would write without guardrails)."""

        def __init__(self, fn: Any) -> None:
            self.run = fn

    def no_shell(state: Any) -> None:
        pending = state.data["messages"][-1]
        if any(c.tool_name == "shell" for c in pending.tool_calls):
            raise PermissionError("no shell")

    def budget(state: Any) -> None:
        if state.data.get("context_tokens", 0) > 100000:
            state.set("stop_run", "over budget")

    def hide_keys(state: Any) -> None:
        msgs = state.data["messages"]
        out = [
            ChatMessage.from_tool(KEY.sub("[REDACTED]", m.tool_call_result.result),
                                  origin=m.tool_call_result.origin)
            if m.tool_call_result is not None and isinstance(m.tool_call_result.result, str)
            else m
            for m in msgs
        ]  # fmt: skip
        state.set("messages", out, handler_override=replace_values)

    schema = {"type": "object", "properties": {}, "additionalProperties": True}
    search = Tool(
        name="search", description="search", parameters=schema, function=lambda **k: "api_key=abc"
    )
    script = [
        ChatMessage.from_assistant(
            tool_calls=[ToolCall(tool_name="search", arguments={"q": "x"}, id="c")]
        ),
        "done",
    ]
    hand = {
        "before_tool": [Hand(no_shell)],
        "before_llm": [Hand(budget)],
        "after_tool": [Hand(hide_keys)],
    }
    agents = {
        "no hooks": Agent(chat_generator=ScriptedChatGenerator(script), tools=[search]),
        "hand-written hooks": Agent(
            chat_generator=ScriptedChatGenerator(script), tools=[search], hooks=hand
        ),
        "guardrails hooks (3 rules)": Agent(
            chat_generator=ScriptedChatGenerator(script),
            tools=[search],
            hooks=policy.haystack_hooks(),
        ),
    }
    messages = [ChatMessage.from_user("find it")]

    def runner(agent: Any) -> Any:
        def run() -> None:
            agent.chat_generator.calls = 0
            agent.chat_generator.seen.clear()
            result = agent.run(messages=messages)
            assert result["last_message"].text == "done"

        return run

    return {name: runner(agent) for name, agent in agents.items()}


async def serve_figures(calls: int, rounds: int) -> dict[str, float]:
    from cpex.framework import (
        GlobalContext,
        MCPClientConfig,
        PluginConfig,
        TenantPluginManager,
        ToolPreInvokePayload,
    )
    from cpex.framework.models import Config

    rule = 'rule deny on tool_pre_invoke when tool.name == "shell" block "no" code NO\n'
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    (folder / "r.rules").write_text(rule)
    local = await guardrails.load(folder).manager()
    command = [sys.executable, "-m", "guardrails", "serve", str(folder)]
    remote = TenantPluginManager(
        Config(
            plugins=[
                PluginConfig(
                    name="guardrails-sequential",
                    kind="external",
                    hooks=["tool_pre_invoke"],
                    mode="sequential",
                    priority=10,
                    mcp=MCPClientConfig(proto="STDIO", cmd=command),
                )
            ]
        )
    )
    start = time.perf_counter()
    await remote.initialize()
    startup = time.perf_counter() - start
    payload = ToolPreInvokePayload(name="search", args={"q": "x"})
    samples: dict[str, list[float]] = {"in process": [], "guardrails serve (MCP stdio)": []}
    managers = {"in process": local, "guardrails serve (MCP stdio)": remote}
    try:
        for _ in range(rounds):
            for name, manager in managers.items():
                t0 = time.perf_counter_ns()
                for i in range(calls):
                    result, _ = await manager.invoke_hook(
                        "tool_pre_invoke", payload, GlobalContext(request_id=str(i))
                    )
                    assert result.continue_processing
                samples[name].append((time.perf_counter_ns() - t0) / calls)
    finally:
        await remote.shutdown()
        await local.shutdown()
    print(f"    guardrails serve start-up (spawn, load, MCP handshake): {startup:.2f} s")
    return {name: statistics.median(v) for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--http-seconds", type=float, default=5.0)
    args = parser.parse_args()
    logging.getLogger("cpex").setLevel(logging.CRITICAL)
    logging.getLogger("haystack").setLevel(logging.ERROR)
    policy = guardrails.loads(RULES, "bench.rules")
    cases = haystack_cases(policy)
    results = measure(cases, args.runs, args.rounds)
    report("H  one Haystack Agent run (2 LLM calls, 1 tool call)", results, "no hooks")
    hand, ours = results["hand-written hooks"], results["guardrails hooks (3 rules)"]
    print(f"    guardrails / hand-written: {ours / hand:.2f}x")
    print()
    figures = asyncio.run(serve_figures(args.calls, args.rounds))
    report("S  one tool_pre_invoke call through cpex, 1 rule", figures, "in process")
    print()
    import bench_serve_http

    rounds = "3" if args.rounds >= 3 else "2"
    bench_serve_http.main(["--seconds", str(args.http_seconds), "--rounds", rounds])


if __name__ == "__main__":
    main()
