"""Hook latency through a real cpex manager: hand-written plugin vs compiled rules.

    python benchmarks/bench_cpex.py [--calls N] [--rounds R]

(a) a hand-written cpex plugin doing the check `name == "shell" and cmd startswith "rm"`;
(b) our plugin for the one rule doing the same check;
(c) our plugins for 1000 rules in one (mode, priority) group, the same rule among them
(and the same with 100 rules);
(f) 100 rules over 5 priorities, the same rule among them, in the manager
`policy.manager()` makes (its priorities fused into one plugin), against the one rule
in such a manager, and the 100 rules with one plugin per priority
(`policy.manager(fuse=False)`, what a manager holding other plugins between them gets).

Every timed call gets a fresh `GlobalContext`, as a host such as Mellea builds one per
hook call, made the same way for every case (the hand-written plugin included) and
before the clock starts, so its construction is not in any figure. One more case,
(r) the one rule with a single `GlobalContext` reused for all the calls of a round
(as a gateway keeps one per request), shows what our per-call state costs there.

All managers get the same HookPayloadPolicy (ours installs one per hook), so the
ratio measures our plugin, not cpex's copy-on-write (`policy.manager()` installs
`hook_policies(policy)`, the same for these rules). Each case is timed per call
with perf_counter_ns, the cases interleaved round by round; the figure is the median
of the round medians. Ratios b/a and c/b are printed (targets: <= 1.2 and <= 1.3),
r/b, and f/f1 (target <= 1.3).
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
from guardrails.adapters.cpex.binding import hook_policies

RULE = 'rule target on tool_pre_invoke when tool.name == "shell" and tool.args.cmd startswith "rm" block "no rm" code NO_RM\n'
REUSED = "r_rules_1_reused_context"


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


def context() -> GlobalContext:
    """The context of one hook call, built the same way for every case."""
    return GlobalContext(request_id="bench")


async def time_calls(
    m: TenantPluginManager, payload: Any, n: int, reuse: bool = False
) -> list[int]:
    shared = context() if reuse else None
    out = []
    for _ in range(n):
        ctx = shared if shared is not None else context()  # built before the clock starts
        t0 = time.perf_counter_ns()
        await m.invoke_hook("tool_pre_invoke", payload, ctx)
        out.append(time.perf_counter_ns() - t0)
    return out


async def alternating(
    managers: dict[str, TenantPluginManager], payload: Any, calls: int, rounds: int
) -> list[float]:
    """Median of round medians (µs) per manager, the managers taking turns call by call."""
    medians: dict[str, list[float]] = {name: [] for name in managers}
    for r in range(rounds + 1):  # the first round warms up
        samples: dict[str, list[int]] = {name: [] for name in managers}
        for _ in range(calls):
            for name, m in managers.items():
                ctx = context()
                t0 = time.perf_counter_ns()
                await m.invoke_hook("tool_pre_invoke", payload, ctx)
                samples[name].append(time.perf_counter_ns() - t0)
        for name, values in samples.items():
            if r:
                medians[name].append(statistics.median(values) / 1000)
    return [statistics.median(v) for v in medians.values()]


async def decisions(m: TenantPluginManager, payload: Any, ctx: GlobalContext, n: int) -> set[Any]:
    out = set()
    for _ in range(n):
        result, _ = await m.invoke_hook("tool_pre_invoke", payload, ctx)
        out.add((result.continue_processing, result.violation and result.violation.code))
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
    spread = guardrails.loads(
        "".join(
            f'rule r{i} on tool_pre_invoke priority {i % 5} when tool.name == "tool_{i}" '
            'and tool.args.cmd startswith "rm" block\n'
            for i in range(99)
        )
        + RULE.replace(" when ", " priority 2 when ", 1),
        "bench.rules",
    )
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
    # (f) call by call in turn, so a neighbour's load drifting between cases moves all three
    managed = {
        "f1": await one.manager(),
        "fused": await spread.manager(),
        "exact": await spread.manager(fuse=False),
    }
    counts = [m._registry.plugin_count for m in managed.values()]
    assert counts == [1, 1, 5], counts
    reuse = {name: False for name in managers} | {REUSED: True}
    managers[REUSED] = managers["b_rules_1"]
    payloads = {
        "allow": ToolPreInvokePayload(name="shell", args={"cmd": "ls -la"}),
        "block": ToolPreInvokePayload(name="shell", args={"cmd": "rm -rf /"}),
    }
    # same decisions everywhere, or the timing means nothing
    for kind, payload in payloads.items():
        outcomes = set()
        for name, m in managers.items():
            if not reuse[name]:
                outcomes |= await decisions(m, payload, context(), 1)
        for m in managed.values():
            outcomes |= await decisions(m, payload, context(), 1)
        assert len(outcomes) == 1, (kind, outcomes)
        # a reused context must not change the decision of any later call
        again = await decisions(managers[REUSED], payload, context(), 3)
        if again != outcomes:
            print(f"  NOTE {kind}: with one context reused, calls after the first decided "
                  f"{sorted(again - outcomes, key=str)} (rules skipped): the {REUSED} figure "
                  "does not time the rules")  # fmt: skip

    print(
        f"cpex hook latency, {calls} calls x {rounds} rounds per case (median of round medians, µs); "
        "a fresh GlobalContext per call unless said"
    )
    for kind, payload in payloads.items():
        medians: dict[str, list[float]] = {name: [] for name in managers}
        for name, m in managers.items():
            await time_calls(m, payload, 200, reuse[name])  # warm up
        for _ in range(rounds):
            for name, m in managers.items():
                samples = await time_calls(m, payload, calls, reuse[name])
                medians[name].append(statistics.median(samples) / 1000)
        result = {name: statistics.median(v) for name, v in medians.items()}
        a, b, c = result["a_handwritten"], result["b_rules_1"], result["c_rules_1000"]
        h, r = result["b100_rules_100"], result[REUSED]
        print(
            f"  {kind:<6} (a) hand-written {a:7.1f}   (b) 1 rule {b:7.1f}   100 rules {h:7.1f}"
            f"   (c) 1000 rules {c:7.1f}   b/a = {b / a:.2f}   100/b = {h / b:.2f}   c/b = {c / b:.2f}"
        )
        f1, ff, fe = await alternating(managed, payload, calls, rounds)
        print(
            f"  {kind:<6} (f) policy.manager(): 1 rule {f1:7.1f}   100 rules over 5 priorities "
            f"{ff:7.1f} (1 plugin, f/f1 = {ff / f1:.2f}, target <= 1.3)   "
            f"fuse=False {fe:7.1f} (5 plugins, {fe / f1:.2f})"
        )
        print(
            f"  {kind:<6} (r) 1 rule, one context reused for {calls} calls {r:7.1f}"
            f"   r/b = {r / b:.2f}   r/a = {r / a:.2f}"
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
