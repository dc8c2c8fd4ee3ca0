"""Fused priorities through a real cpex manager: a mode's consecutive priorities share one
plugin where no other plugin sits between them, and that changes no verdict."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from cpex.framework import (
    GlobalContext,
    Plugin,
    PluginConfig,
    PluginError,
    PluginResult,
    PluginViolation,
    TenantPluginManager,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config

import guardrails
from guardrails.adapters.cpex.binding import hook_policies
from guardrails.records import MemorySink

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("guardrails.cpex").setLevel(logging.CRITICAL)

HOOK = "tool_pre_invoke"
# every enforced mode over several priorities, `on_error ignore` between `fail` rules
# (in one priority too), rules that fail at run time, set and redact feeding later rules
RULES = """
rule s0 on tool_pre_invoke priority 1 when tool.args.cmd == "a" set tool.args.cmd = "b"
rule s1 on tool_pre_invoke priority 2 on_error ignore when tool.args.n > 2 block "n big" code N_BIG
rule s2 on tool_pre_invoke priority 2 when tool.args.cmd == "b" block "b seen" code B
rule s3 on tool_pre_invoke priority 3 when tool.name == "w" warn "w seen" code W
rule s4 on tool_pre_invoke priority 4 on_error ignore when tool.args.n > 1 redact tool.args /x/ with "y"
rule s5 on tool_pre_invoke priority 6 when tool.args.cmd == "yy" block "redacted" code YY
rule t0 on tool_pre_invoke mode transform priority 1 when tool.args.n > 3 set tool.args.n = 3
rule t1 on tool_pre_invoke mode transform priority 5 on_error ignore when tool.args.n > 0 set tool.args.seen = true
rule a0 on tool_pre_invoke mode audit priority 1 when tool.name == "z" block "audit z" code AZ
rule a1 on tool_pre_invoke mode audit priority 9 when tool.args.n > 0 warn "audit n"
rule c0 on tool_pre_invoke mode concurrent priority 1 when tool.name == "c" block "c" code C
rule c1 on tool_pre_invoke mode concurrent priority 7 on_error ignore when tool.args.n > 1 block "c n" code CN
"""
PAYLOADS = [
    {"name": "x", "args": {"cmd": "a"}},  # s0 sets, s2 blocks on it; s1 fails, ignored
    {"name": "x", "args": {"cmd": "b", "n": 3}},  # s1 (ignore) blocks before s2 (fail)
    {"name": "w", "args": {"cmd": "q", "n": 1}},  # a warning, a transform set, audit
    {"name": "z", "args": {"cmd": "xx", "n": 2}},  # redact, then s5 sees it
    {"name": "z", "args": {"cmd": "q", "n": 2}},  # audit would_block, concurrent block
    {"name": "c", "args": {}},
    {"name": "x", "args": {"n": "two"}},  # t0 (fail) errors: cpex raises PluginError
    {"name": "w", "args": {"cmd": "q", "n": 1.5}},
]


def outcome(result: Any, payload: dict[str, Any]) -> tuple[Any, ...]:
    if not result.continue_processing:
        v = result.violation
        return ("block", v.code, v.reason, v.details.get("rule"))
    modified = result.modified_payload
    args = dict(modified.args) if modified is not None else None
    return ("allow", args if args != payload["args"] else None)


async def calls(manager: Any, sink: MemorySink) -> list[tuple[Any, ...]]:
    seen = []
    for i, payload in enumerate(PAYLOADS):
        before = len(sink.records)
        try:
            result, _ = await manager.invoke_hook(
                HOOK, ToolPreInvokePayload(**payload), GlobalContext(request_id=str(i))
            )
            got = outcome(result, payload)
        except PluginError:
            got = ("error",)
        seen.append((got, sorted((r.rule, r.verdict) for r in sink.records[before:])))
    return seen


def evaluated(policy: guardrails.Policy) -> list[tuple[Any, ...]]:
    seen = []
    for payload in PAYLOADS:
        v = policy.evaluate(HOOK, {"tool": payload})
        blocker = next((r for r in v.rules if r.rule_id == v.blocked_by), None)
        if blocker is not None and blocker.mode == "transform":
            got: tuple[Any, ...] = ("error",)
        elif v.outcome == "block":
            got = ("block", v.code, v.reason, v.blocked_by)
        else:
            args = v.payload["tool"]["args"] if v.outcome == "modify" else None
            got = ("allow", args if args != payload["args"] else None)
        fired = [(r.rule_id, r.verdict) for r in v.rules if r.verdict not in ("pass", "skipped")]
        seen.append((got, sorted(fired)))
    return seen


def test_fused_and_exact_plugins_give_the_same_verdicts():
    sink = MemorySink()
    policy = guardrails.loads(RULES, "f.rules", sinks=[sink], time_budget_ms=None)

    async def both() -> tuple[Any, Any, list[str], list[str]]:
        fused = await policy.manager(timeout=5)
        exact = await policy.manager(timeout=5, fuse=False)
        return await calls(fused, sink), await calls(exact, sink), names(fused), names(exact)

    fused, exact, fused_names, exact_names = asyncio.run(both())
    assert [n.split(":")[1] for n in fused_names] == [
        "sequential@1..6", "transform@1..5", "audit@1..9", "concurrent@1..7",
    ]  # fmt: skip
    assert len(exact_names) == 11
    assert fused == exact == evaluated(policy)
    assert {o[0] for o, _ in fused} == {"block", "allow", "error"}  # every outcome is exercised


def names(manager: Any) -> list[str]:
    return list(manager._registry._plugins)


def count(manager: Any, mode: str | None = None) -> int:
    refs = manager._registry._plugins.values()
    return sum(1 for r in refs if mode is None or r.mode.value == mode)


SPREAD = "".join(
    f'rule r{i} on {HOOK} priority {i % 5} when tool.name == "t{i}" block\n' for i in range(100)
) + "".join(
    f'rule a{i} on {HOOK} mode audit priority {10 + i % 3} when tool.name == "t{i}" block\n'
    for i in range(9)
)


class Other(Plugin):
    """Someone else's plugin: records that it ran, and can stop a call."""

    seen: list[str] = []

    async def tool_pre_invoke(self, payload: Any, context: Any) -> PluginResult[Any]:
        Other.seen.append(payload.name)
        if payload.name == "stop":
            return PluginResult(
                continue_processing=False,
                violation=PluginViolation(reason="other", description="other", code="OTHER"),
            )
        return PluginResult()

    async def tool_post_invoke(self, payload: Any, context: Any) -> PluginResult[Any]:
        return PluginResult()


def other(priority: int, mode: str = "sequential", hook: str = HOOK, name: str = "o") -> Other:
    config = PluginConfig(name=name, kind="t.Other", hooks=[hook], mode=mode, priority=priority)
    return Other(config)


async def host_manager(policy: guardrails.Policy, *plugins: Any) -> TenantPluginManager:
    manager = TenantPluginManager(Config(plugins=[]), hook_policies=hook_policies(policy))
    await manager.initialize()
    for plugin in plugins:
        manager._registry.register(plugin)
    return manager


def test_plugins_per_load_alone_and_around_other_plugins():
    policy = guardrails.loads(SPREAD)

    async def shapes() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["ours"] = count(await policy.manager())  # we made it: we know every plugin
        out["exact"] = count(await policy.manager(fuse=False))
        out["handed"] = len(policy.plugins())  # a host's manager we never see
        # other plugins outside our span, in another mode, on another hook: no change
        for case, plugin in {
            "outside": other(50),
            "audit_mode": other(2, mode="audit"),
            "other_hook": other(2, hook="tool_post_invoke"),
        }.items():
            m = await host_manager(policy, plugin)
            policy.register(m)
            out[case] = count(m) - 1
        # one sitting between priorities 1 and 3 of the sequential rules
        between = await host_manager(policy, other(2))
        policy.register(between)
        out["between"] = [n.split(":")[1] for n in names(between) if n != "o"]
        return out

    found = asyncio.run(shapes())
    assert found["ours"] == 2 and found["exact"] == found["handed"] == 8
    assert found["outside"] == found["audit_mode"] == found["other_hook"] == 2
    assert found["between"] == [
        "sequential@0..1",
        "sequential@2",
        "sequential@3..4",
        "audit@10..12",
    ]


def test_a_plugin_added_later_splits_the_fused_one_and_runs_between():
    text = (
        f'rule early on {HOOK} priority 10 when tool.name == "x" block "early" code EARLY\n'
        f'rule late on {HOOK} priority 30 when tool.name in ["stop", "y"] block "late" code LATE\n'
    )
    policy = guardrails.loads(text)

    async def run() -> tuple[int, int, list[Any]]:
        manager = await policy.manager()
        before = count(manager)
        manager._registry.register(other(20))  # the registry is all cpex lets a host use
        Other.seen.clear()
        codes = []
        for name in ("x", "stop", "y"):
            result, _ = await manager.invoke_hook(
                HOOK, ToolPreInvokePayload(name=name, args={}), GlobalContext(request_id=name)
            )
            codes.append(result.violation.code)
        return before, count(manager), codes

    before, after, codes = asyncio.run(run())
    assert (before, after) == (1, 3)  # ours split in two around it
    assert codes == ["EARLY", "OTHER", "LATE"] and Other.seen == ["stop", "y"]


def test_two_policies_in_one_manager_split_each_other_exactly():
    first = guardrails.loads(
        "".join(
            f'rule a{p} on {HOOK} priority {p} when tool.name == "a{p}" warn\n'
            for p in (10, 20, 30)
        )
    )
    second = guardrails.loads(
        "".join(
            f'rule b{p} on {HOOK} priority {p} when tool.name == "b{p}" warn\n'
            for p in (15, 25, 35)
        )
    )

    async def run() -> list[tuple[str, int]]:
        manager = await first.manager()
        second.register(manager)
        return sorted((r.priority, r.name) for r in manager._registry._plugins.values())

    spans = [name.split(":")[1] for _, name in asyncio.run(run())]
    assert spans == [f"sequential@{p}" for p in (10, 15, 20, 25, 30, 35)]


def test_a_reload_fuses_the_new_version_again():
    policy = guardrails.loads(SPREAD)

    async def run() -> tuple[int, int]:
        manager = await policy.manager()
        policy.reload(SPREAD.replace("priority 1 ", "priority 7 "))
        fused = count(manager)
        policy.register(manager, fuse=False)  # the caller asks for exact plugins from now on
        return fused, count(manager)

    assert asyncio.run(run()) == (2, 8)


def test_on_error_keeps_its_meaning_inside_a_fused_plugin():
    text = (
        f"rule ig on {HOOK} priority 1 on_error ignore when tool.args.n > 1 block\n"
        f"rule t on {HOOK} mode transform priority 1 when tool.args.n > 3 set tool.args.n = 3\n"
        f"rule ti on {HOOK} mode transform priority 2 on_error ignore when tool.args.m > 1 set tool.args.m = 1\n"
        f'rule f on {HOOK} priority 3 when tool.name == "f" block "f" code F\n'
    )
    policy = guardrails.loads(text)

    async def run() -> tuple[dict[str, str], list[Any]]:
        manager = await policy.manager()
        on_error = {
            r.name.split(":")[1]: r.on_error.value for r in manager._registry._plugins.values()
        }
        seen = []
        for name, args in (("g", {"n": "x"}), ("g", {"n": 0, "m": "x"}), ("f", {"n": "x"})):
            try:
                result, _ = await manager.invoke_hook(
                    HOOK, ToolPreInvokePayload(name=name, args=args), GlobalContext(request_id="1")
                )
                seen.append(result.violation.code if result.violation else "allow")
            except PluginError:
                seen.append("PluginError")
        return on_error, seen

    on_error, seen = asyncio.run(run())
    assert on_error == {"sequential@1..3": "fail", "transform@1..2": "fail"}
    # a failing `fail` transform rule still aborts the call (cpex needs on_error=fail for
    # that), an `ignore` one does not; the ignore rule's error lets the call on to `f`
    assert seen == ["PluginError", "allow", "F"]
    only_ignore = guardrails.loads(f"rule a on {HOOK} on_error ignore priority 1 warn\n"
                                   f"rule b on {HOOK} on_error ignore priority 2 warn\n")  # fmt: skip
    (ref,) = asyncio.run(only_ignore.manager())._registry._plugins.values()
    assert ref.on_error.value == "ignore"


def test_out_of_date_transform_plugins_of_ignore_rules_still_stop_calls():
    """A transform plugin stops a call only by raising, which cpex swallows under
    on_error=ignore: so it is `fail` even when all its rules say `on_error ignore`."""
    policy = guardrails.loads(
        f'rule r on {HOOK} mode transform on_error ignore set tool.args.cmd = "a"\n'
    )
    (plugin,) = policy.plugins()
    assert plugin.config.on_error.value == "fail"

    async def run() -> Any:
        manager = await host_manager(policy, plugin)
        policy.reload(f'rule r on {HOOK} block "stop"\n')  # a group the host never took
        return await manager.invoke_hook(
            HOOK, ToolPreInvokePayload(name="x", args={}), GlobalContext(request_id="1")
        )

    with pytest.raises(PluginError, match="GUARDRAIL_STALE"):
        asyncio.run(run())


def test_the_state_exchange_still_runs_first():
    text = (
        "counter calls per user\n"
        f"rule count_it on {HOOK} priority 5 add 1 to calls\n"
        f'rule limit on {HOOK} priority 1 when calls >= 2 block "too many" code MANY\n'
        f'rule mid on {HOOK} priority 3 when tool.name == "m" warn\n'
    )
    policy = guardrails.loads(text)

    async def run() -> tuple[list[tuple[int, str]], list[Any]]:
        manager = await policy.manager()
        refs = [
            (r.priority, r.name.split(":")[1])
            for r in manager._registry.get_hook_refs_for_hook(HOOK)
            for r in [r.plugin_ref]
        ]
        codes = []
        for i in range(3):
            result, _ = await manager.invoke_hook(
                HOOK,
                ToolPreInvokePayload(name="t", args={}),
                GlobalContext(request_id=str(i), user="u"),
            )
            codes.append(result.violation.code if result.violation else None)
        return refs, codes

    refs, codes = asyncio.run(run())
    assert refs == [(0, "state"), (1, "sequential@1..5")]
    assert codes == [None, None, "MANY"]  # counted once per call, read before the call's own


def test_a_yaml_entry_is_one_plugin_whatever_its_rules_priorities(tmp_path: Path):
    (tmp_path / "r.rules").write_text(SPREAD)
    (tmp_path / "plugins.yaml").write_text(
        "plugins:\n"
        f"  - name: g\n    kind: guardrails.cpex.RulesPlugin\n    hooks: [{HOOK}]\n"
        "    mode: sequential\n    priority: 1\n"
        f"    config: {{rules: {tmp_path / 'r.rules'}, others: skip}}\n"
    )

    async def run() -> tuple[int, str | None]:
        manager = TenantPluginManager(str(tmp_path / "plugins.yaml"))
        await manager.initialize()
        result, _ = await manager.invoke_hook(
            HOOK, ToolPreInvokePayload(name="t42", args={}), GlobalContext(request_id="1")
        )
        n = count(manager)
        await manager.shutdown()
        return n, result.violation.details.get("rule")

    assert asyncio.run(run()) == (1, "r42")


@pytest.mark.parametrize("fuse", [True, False])
def test_register_keeps_its_plugins_and_returns_them(fuse: bool):
    policy = guardrails.loads(SPREAD)

    async def run() -> tuple[list[Any], list[Any]]:
        manager = await host_manager(policy)
        got = policy.register(manager, fuse=fuse)
        return got, [r.plugin for r in manager._registry._plugins.values()]

    got, registered = asyncio.run(run())
    assert got == registered and len(got) == (2 if fuse else 8)
