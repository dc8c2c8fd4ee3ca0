"""Hook latency through a real cpex manager: hand-written plugin vs compiled rules.

    python benchmarks/bench_cpex.py [--calls N] [--rounds R]

(a) a hand-written cpex plugin doing the check `name == "shell" and cmd startswith "rm"`;
(b) our plugin for the one rule doing the same check;
(c) our plugins for 1000 rules in one (mode, priority) group, the same rule among them
(and the same with 100 rules).

All three managers get the same HookPayloadPolicy (ours installs one per hook), so
the ratio measures our plugin, not cpex's copy-on-write. Each case is timed per call
with perf_counter_ns, the cases interleaved round by round; the figure is the median
of the round medians. Ratios b/a and c/b are printed (targets: <= 1.2 and <= 1.3).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

from cpex.framework import (
    GlobalContext,
    Plugin,
    PluginConfig,
    PluginResult,
    PluginViolation,
    TenantPluginManager,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config

import guardrails
from guardrails.adapters.cpex import hook_policies

RULE = 'rule target on tool_pre_invoke when tool.name == "shell" and tool.args.cmd startswith "rm" block "no rm" code NO_RM\n'


class HandWritten(Plugin):
    async def tool_pre_invoke(self, payload: Any, context: Any) -> PluginResult[Any]:
        args = payload.args or {}
        cmd = args.get("cmd")
        if payload.name == "shell" and isinstance(cmd, str) and cmd.startswith("rm"):
            return PluginResult(
                continue_processing=False,
                violation=PluginViolation(reason="no rm", description="no rm", code="NO_RM"),
            )
        return PluginResult()


async def manager_for(plugins: list[Any], policies: dict[str, Any]) -> TenantPluginManager:
    m = TenantPluginManager(Config(plugins=[]), hook_policies=policies)
    await m.initialize()
    for p in plugins:
        m._registry.register(p)
    return m


async def time_calls(m: TenantPluginManager, payload: Any, n: int) -> list[int]:
    ctx = GlobalContext(request_id="bench")
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await m.invoke_hook("tool_pre_invoke", payload, ctx)
        out.append(time.perf_counter_ns() - t0)
    return out


async def main(calls: int, rounds: int) -> None:
    logging.getLogger("cpex").setLevel(logging.ERROR)
    one = guardrails.loads(RULE, "bench.rules")

    def group_of(n: int) -> guardrails.Policy:
        text = "".join(
            f'rule r{i} on tool_pre_invoke when tool.name == "tool_{i}" and tool.args.cmd startswith "rm" block\n'
            for i in range(n - 1)
        )
        return guardrails.loads(text + RULE, "bench.rules")

    hundred, many = group_of(100), group_of(1000)
    assert len(many.plugins()) == 1 and len(hundred.plugins()) == 1
    policies = hook_policies(one)
    hand = HandWritten(
        PluginConfig(name="hand", kind="bench.HandWritten", hooks=["tool_pre_invoke"])
    )
    managers = {
        "a_handwritten": await manager_for([hand], policies),
        "b_rules_1": await manager_for(one.plugins(), policies),
        "b100_rules_100": await manager_for(hundred.plugins(), policies),
        "c_rules_1000": await manager_for(many.plugins(), policies),
    }
    payloads = {
        "allow": ToolPreInvokePayload(name="shell", args={"cmd": "ls -la"}),
        "block": ToolPreInvokePayload(name="shell", args={"cmd": "rm -rf /"}),
    }
    # same decisions everywhere, or the timing means nothing
    for kind, payload in payloads.items():
        outcomes = set()
        for m in managers.values():
            result, _ = await m.invoke_hook(
                "tool_pre_invoke", payload, GlobalContext(request_id="x")
            )
            outcomes.add((result.continue_processing, result.violation and result.violation.code))
        assert len(outcomes) == 1, (kind, outcomes)

    print(
        f"cpex hook latency, {calls} calls x {rounds} rounds per case (median of round medians, µs)"
    )
    for kind, payload in payloads.items():
        medians: dict[str, list[float]] = {name: [] for name in managers}
        for m in managers.values():
            await time_calls(m, payload, 200)  # warm up
        for _ in range(rounds):
            for name, m in managers.items():
                medians[name].append(statistics.median(await time_calls(m, payload, calls)) / 1000)
        result = {name: statistics.median(v) for name, v in medians.items()}
        a, b, c = result["a_handwritten"], result["b_rules_1"], result["c_rules_1000"]
        h = result["b100_rules_100"]
        print(
            f"  {kind:<6} (a) hand-written {a:7.1f}   (b) 1 rule {b:7.1f}   100 rules {h:7.1f}"
            f"   (c) 1000 rules {c:7.1f}   b/a = {b / a:.2f}   100/b = {h / b:.2f}   c/b = {c / b:.2f}"
        )
    # shadow and audit: the same rule records a would-block instead of blocking
    shadow = {
        "b_enforced": managers["b_rules_1"],
        "d_shadow": await manager_for(guardrails.loads(RULE, shadow=True).plugins(), policies),
        "e_audit": await manager_for(
            guardrails.loads(RULE.replace("when", "mode audit when")).plugins(), policies
        ),
    }
    payload = payloads["block"]
    medians = {name: [] for name in shadow}
    for m in shadow.values():
        await time_calls(m, payload, 200)
    for _ in range(rounds):
        for name, m in shadow.items():
            medians[name].append(statistics.median(await time_calls(m, payload, calls)) / 1000)
    b, d, e = (statistics.median(medians[n]) for n in ("b_enforced", "d_shadow", "e_audit"))
    print(
        f"  block payload: enforced {b:7.1f}   shadow=True {d:7.1f} (d/b = {d / b:.2f})"
        f"   mode audit {e:7.1f} (e/b = {e / b:.2f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
