"""Atomic reload: every hook call sees exactly one complete version of the rules."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest
from cpex.framework import GlobalContext, ToolPreInvokePayload

import guardrails
from guardrails.adapters.cpex.binding import decisions
from guardrails.records import MemorySink

logging.getLogger("cpex").setLevel(logging.ERROR)

V1 = (
    "rule g1 on tool_pre_invoke priority 10 warn 'v1' code V1\n"
    "rule g2 on tool_pre_invoke priority 20 warn 'v1' code V1\n"
)
V2 = (
    "rule g1 on tool_pre_invoke priority 10 warn 'v2' code V2\n"
    "rule g2 on tool_pre_invoke priority 20 warn 'v2' code V2\n"
    "rule g3 on tool_pre_invoke priority 30 warn 'v2' code V2\n"
)
BROKEN = "rule g1 on tool_pre_invok warn\n"


def test_reload_from_files_swaps_and_a_broken_edit_keeps_the_old_rules(tmp_path):
    rules = tmp_path / "r.rules"
    rules.write_text(V1)
    sink = MemorySink()
    policy = guardrails.load(tmp_path, sinks=[sink])
    h1 = policy.ruleset_hash
    policy.evaluate("tool_pre_invoke", {})
    rules.write_text(V2)
    compiled = policy.reload()
    assert compiled.ruleset_hash == policy.ruleset_hash != h1
    assert [r.id for r in policy.rules] == ["g1", "g2", "g3"]
    rules.write_text(BROKEN)
    with pytest.raises(guardrails.RulesError, match="GR0200"):
        policy.reload()
    assert [r.id for r in policy.rules] == ["g1", "g2", "g3"]  # the last good version
    policy.evaluate("tool_pre_invoke", {})
    hashes = [r.ruleset for r in sink.records]
    assert hashes[:2] == [h1, h1] and set(hashes[2:]) == {compiled.ruleset_hash}


def test_reload_of_a_policy_from_a_string():
    policy = guardrails.loads(V1)
    with pytest.raises(guardrails.GuardrailsError, match="pass the new text"):
        policy.reload()
    policy.reload(V2)
    assert len(policy.rules) == 3
    same = policy.compiled
    assert policy.reload(V2) is same  # unchanged text: nothing to swap


def test_concurrent_evaluations_during_reloads_each_see_one_version():
    # no time budget: a caller thread waiting for the GIL on a loaded machine would
    # otherwise get a (fail-closed) budget error, which is not what this test is about
    policy = guardrails.loads(V1, time_budget_ms=None)
    hashes = {guardrails.loads(V1).ruleset_hash: "V1", guardrails.loads(V2).ruleset_hash: "V2"}
    stop = threading.Event()
    problems: list[str] = []
    calls = [0]

    def caller() -> None:
        while not stop.is_set():
            verdict = policy.evaluate("tool_pre_invoke", {})
            codes = {r.code for r in verdict.rules}
            version = hashes[verdict.ruleset]
            expected = 2 if version == "V1" else 3
            if codes != {version} or len(verdict.rules) != expected:
                problems.append(f"{version}: {[(r.rule_id, r.code) for r in verdict.rules]}")
            calls[0] += 1

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for t in threads:
        t.start()
    reloads = 0
    for i in range(200):
        policy.reload(V2 if i % 2 == 0 else V1)
        reloads += 1
    stop.set()
    for t in threads:
        t.join()
    assert reloads == 200 and calls[0] > 0
    assert problems == []


def test_cpex_calls_during_reloads_each_see_one_version():
    policy = guardrails.loads(V1, time_budget_ms=None)  # as above: versions, not budgets
    hashes = {guardrails.loads(V1).ruleset_hash: "V1", guardrails.loads(V2).ruleset_hash: "V2"}

    async def scenario() -> tuple[int, list[str]]:
        manager = await policy.manager()
        problems: list[str] = []
        done = 0

        async def call(i: int) -> None:
            nonlocal done
            result, _ = await manager.invoke_hook(
                "tool_pre_invoke",
                ToolPreInvokePayload(name="t", args={}),
                GlobalContext(request_id=str(i)),
            )
            records = decisions(result)
            versions = {hashes[r["ruleset"]] for r in records}
            codes = {r["code"] for r in records}
            rules = sorted(r["rule"] for r in records)
            ok = (versions, codes, rules) in (
                ({"V1"}, {"V1"}, ["g1", "g2"]),
                ({"V2"}, {"V2"}, ["g1", "g2", "g3"]),
            )
            if not ok:
                problems.append(f"call {i}: {versions} {codes} {rules}")
            done += 1

        async def reloader() -> None:
            for i in range(100):
                policy.reload(V2 if i % 2 == 0 else V1)
                await asyncio.sleep(0)

        await asyncio.gather(reloader(), *(call(i) for i in range(300)))
        return done, problems

    done, problems = asyncio.run(scenario())
    assert done == 300
    assert problems == []


def test_watch_reloads_on_file_change_and_survives_a_broken_edit(tmp_path: Path):
    rules = tmp_path / "r.rules"
    rules.write_text(V1)
    policy = guardrails.load(tmp_path)
    reloaded: list[str] = []
    failed: list[Exception] = []
    watcher = policy.watch(
        on_reload=lambda c: reloaded.append(c.ruleset_hash), on_error=failed.append, debounce_ms=50
    )
    try:
        time.sleep(0.3)
        rules.write_text(V2)
        _wait(lambda: reloaded)
        assert len(policy.rules) == 3
        rules.write_text(BROKEN)
        _wait(lambda: failed)
        assert isinstance(failed[0], guardrails.RulesError)
        assert len(policy.rules) == 3  # still the last good version
    finally:
        watcher.stop()


def _wait(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the watcher did not react in time")
        time.sleep(0.05)


MOVED_OLD = "rule x on tool_pre_invoke priority 10 when tool.name == 'x' block 'old' code OLD\n"
MOVED_NEW = "rule x on tool_pre_invoke priority 20 when tool.name == 'x' block 'new' code NEW\n"


def _blocked(result) -> str | None:  # type: ignore[no-untyped-def]
    return result.violation.code if result.violation else None


def test_a_reload_under_way_never_lets_queued_calls_through():
    """Old rules block at priority 10, new rules at 20: calls queued before the reload
    run the old plugins wholly, later calls the new ones; none is allowed."""
    policy = guardrails.loads(MOVED_OLD)

    async def scenario() -> list[str | None]:
        manager = await policy.manager()

        async def call(i: int) -> str | None:
            payload = ToolPreInvokePayload(name="x", args={})
            result, _ = await manager.invoke_hook(
                "tool_pre_invoke", payload, GlobalContext(request_id=str(i))
            )
            return _blocked(result)

        async def reload_soon() -> None:
            await asyncio.sleep(0)
            policy.reload(MOVED_NEW)

        results = await asyncio.gather(reload_soon(), *(call(i) for i in range(200)))
        return list(results[1:])

    codes = asyncio.run(scenario())
    assert None not in codes and set(codes) <= {"OLD", "NEW"}


def test_reloads_from_a_thread_never_let_calls_through():
    policy = guardrails.loads(MOVED_OLD)
    texts = [MOVED_NEW, MOVED_OLD]

    async def scenario() -> list[str | None]:
        manager = await policy.manager()
        stop = threading.Event()

        def reloader() -> None:
            i = 0
            while not stop.is_set():
                policy.reload(texts[i % 2])
                i += 1

        thread = threading.Thread(target=reloader)
        thread.start()
        try:
            codes = []
            for i in range(1000):
                payload = ToolPreInvokePayload(name="x", args={})
                result, _ = await manager.invoke_hook(
                    "tool_pre_invoke", payload, GlobalContext(request_id=str(i))
                )
                codes.append(_blocked(result))
                if i % 10 == 0:
                    await asyncio.sleep(0)  # let scheduled swaps run
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)
        return codes

    codes = asyncio.run(scenario())
    assert None not in codes and {"OLD", "NEW"} <= set(codes)


def test_plugins_handed_to_a_host_follow_a_reload_that_fits_and_fail_closed_when_not():
    policy = guardrails.loads(MOVED_OLD)

    async def call(manager) -> str | None:  # type: ignore[no-untyped-def]
        payload = ToolPreInvokePayload(name="x", args={})
        result, _ = await manager.invoke_hook(
            "tool_pre_invoke", payload, GlobalContext(request_id="r")
        )
        return _blocked(result)

    async def scenario() -> list[str | None]:
        from cpex.framework import TenantPluginManager
        from cpex.framework.models import Config

        manager = TenantPluginManager(Config(plugins=[]))
        await manager.initialize()
        for plugin in policy.plugins():  # as a host does with plugins it was handed
            manager._registry.register(plugin)
        codes = [await call(manager)]
        policy.reload(MOVED_OLD.replace("'old'", "'old2'").replace("OLD", "OLD2"))
        codes.append(await call(manager))  # same group: followed
        policy.reload(MOVED_NEW)
        codes.append(await call(manager))  # a group the host does not have: stale
        return codes

    assert asyncio.run(scenario()) == ["OLD", "OLD2", "GUARDRAIL_STALE"]


def test_a_mellea_session_never_passes_a_call_while_its_rules_reload():
    """Plugins handed to Mellea follow reloads from another thread; every call is
    stopped by the old rule or the new one, never by neither."""
    pytest.importorskip("mellea")
    from mellea import MelleaSession
    from mellea.plugins import PluginViolationError, plugin_scope

    from guardrails.testing.canned import CannedBackend

    versions = [
        "rule p on generation_pre_call when prompt contains 'pw' block 'old' code OLD\n",
        "rule p on generation_pre_call when prompt contains 'pw' block 'new' code NEW\n",
    ]
    policy = guardrails.loads(versions[0])
    stop = threading.Event()

    def reloader() -> None:
        i = 0
        while not stop.is_set():
            policy.reload(versions[i % 2])
            i += 1
            time.sleep(0.001)

    codes: list[str] = []
    thread = threading.Thread(target=reloader)
    with plugin_scope(*policy.plugins()):
        session = MelleaSession(CannedBackend(["reply"]))
        thread.start()
        try:
            for _ in range(60):
                try:
                    session.instruct("my pw is hunter2", strategy=None)
                    codes.append("passed")
                except PluginViolationError as err:
                    codes.append(err.code)
        finally:
            stop.set()
            thread.join()
    assert "passed" not in codes and set(codes) <= {"OLD", "NEW"}


def test_a_watched_yaml_entry_never_passes_a_call_while_its_files_change(tmp_path: Path):
    from cpex.framework import TenantPluginManager

    rules = tmp_path / "rules"
    rules.mkdir()
    versions = [
        "rule x on tool_pre_invoke when tool.name == 'x' block 'old' code OLD\n",
        "rule x on tool_pre_invoke when tool.name == 'x' block 'new' code NEW\n",
    ]
    (rules / "r.rules").write_text(versions[0])
    config = tmp_path / "plugins.yaml"
    config.write_text(
        "plugins:\n  - name: g\n    kind: guardrails.cpex.RulesPlugin\n"
        "    hooks: [tool_pre_invoke]\n    mode: sequential\n    priority: 1\n"
        f"    config: {{rules: {rules}, watch: true}}\n"
    )

    async def scenario() -> list[str | None]:
        manager = TenantPluginManager(str(config))
        await manager.initialize()
        codes: list[str | None] = []
        try:
            await asyncio.sleep(0.3)  # the watcher starts
            for i in range(40):
                if i % 8 == 0:
                    (rules / "r.rules").write_text(versions[(i // 8) % 2 - 1])
                payload = ToolPreInvokePayload(name="x", args={})
                result, _ = await manager.invoke_hook(
                    "tool_pre_invoke", payload, GlobalContext(request_id=str(i))
                )
                codes.append(_blocked(result))
                await asyncio.sleep(0.05)
        finally:
            await manager.shutdown()
        return codes

    codes = asyncio.run(scenario())
    assert None not in codes and {"OLD", "NEW"} <= set(codes)
