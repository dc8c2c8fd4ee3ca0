"""Rules loaded through cpex's own YAML config loader (`kind: guardrails.cpex.RulesPlugin`)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from cpex.framework import GlobalContext, PluginError, TenantPluginManager, ToolPreInvokePayload

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("guardrails.cpex").setLevel(logging.CRITICAL)

RULES = """
rule deny_shell on tool_pre_invoke priority 5 when tool.name == "shell" block "no shell" code NO_SHELL
rule later on tool_pre_invoke priority 1 when tool.name == "shell" warn "seen first" code FIRST
rule tag on tool_pre_invoke mode transform set tool.args.tagged = true
rule watch on tool_pre_invoke mode audit when tool.name == "search" block "audit" code WATCH
"""


def entry(
    name: str, mode: str, priority: int, config: str, hooks: str = "[tool_pre_invoke]"
) -> str:
    return (f"  - name: {name}\n    kind: guardrails.cpex.RulesPlugin\n    hooks: {hooks}\n"
            f"    mode: {mode}\n    priority: {priority}\n    config: {config}\n")  # fmt: skip


def manager(tmp_path: Path, entries: str) -> Any:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "tools.rules").write_text(RULES)
    config = tmp_path / "plugins.yaml"
    rules = tmp_path / "rules"
    config.write_text("plugins:\n" + entries.replace("RULES", str(rules)))
    m = TenantPluginManager(str(config))
    asyncio.run(m.initialize())
    return m


def call(m: Any, name: str) -> Any:
    return asyncio.run(
        m.invoke_hook(
            "tool_pre_invoke",
            ToolPreInvokePayload(name=name, args={}),
            GlobalContext(request_id="y"),
        )
    )[0]


def test_entries_per_mode_run_their_rules(tmp_path):
    m = manager(tmp_path,
        entry("enforce", "sequential", 10, "{rules: RULES, others: skip}")
        + entry("shape", "transform", 10, "{rules: RULES, others: skip}")
        + entry("shadow", "audit", 10, "{rules: RULES, others: skip}"))  # fmt: skip
    assert m.plugin_count == 3
    blocked = call(m, "shell")
    assert (blocked.continue_processing, blocked.violation.code) == (False, "NO_SHELL")
    searched = call(m, "search")
    assert searched.continue_processing and searched.modified_payload.args == {"tagged": True}
    watched = [d for v in searched.metadata.values() if isinstance(v, list) for d in v]
    assert ("watch", "would_block") in [(d["rule"], d["verdict"]) for d in watched]


def test_rules_run_in_their_own_priority_order_inside_the_entry(tmp_path):
    m = manager(tmp_path, entry("enforce", "sequential", 10, "{rules: RULES, others: skip}"))
    result = call(m, "shell")
    decisions = [d for v in result.metadata.values() if isinstance(v, list) for d in v]
    assert [d["rule"] for d in decisions] == ["later", "deny_shell"]  # priority 1 before 5
    assert result.violation.code == "NO_SHELL"


def test_contradictions_and_missing_rules_fail_closed(tmp_path):
    m = manager(tmp_path,
        entry("mixed", "sequential", 10, "{rules: RULES}")  # rules of other modes, not skipped
        + entry("missing", "sequential", 20, "{rules: /nowhere/at/all}")
        + entry("unlisted", "sequential", 30, "{rules: RULES, others: skip}", hooks="[tool_post_invoke]"))  # fmt: skip
    assert m.plugin_count == 3  # nothing was skipped by cpex's fail-open loader
    result = call(m, "ls")
    assert result.continue_processing is False and result.violation.code == "GUARDRAIL_CONFIG"
    assert "rules not in this entry's mode (sequential): tag, watch" in result.violation.description


def test_a_broken_transform_entry_raises(tmp_path):
    m = manager(tmp_path, entry("shape", "transform", 10, "{rules: /nowhere}"))
    try:
        call(m, "ls")
    except PluginError:
        return
    raise AssertionError("a transform entry that cannot load its rules must stop the call")


def test_watch_reloads_the_entry_and_keeps_the_last_good_rules(tmp_path):
    m = manager(tmp_path, entry("enforce", "sequential", 10, "{rules: RULES, others: skip, watch: true}"))  # fmt: skip
    plugin = m._registry.get_plugin("enforce").plugin
    rules = tmp_path / "rules" / "tools.rules"
    no_search = (
        'rule no_search on tool_pre_invoke when tool.name == "search" block code NO_SEARCH\n'
    )
    try:
        assert call(m, "search").continue_processing
        time.sleep(0.3)  # let the watcher start
        rules.write_text(RULES + no_search)
        wait(lambda: not call(m, "search").continue_processing)
        assert call(m, "search").violation.code == "NO_SEARCH"
        good = plugin.ruleset_hash
        # an edit that contradicts the entry (a hook it does not list) is refused
        rules.write_text(RULES + no_search + "rule later2 on tool_post_invoke block\n")
        wait(lambda: plugin.policy.ruleset_hash != good)
        assert plugin.ruleset_hash == good
        assert call(m, "search").violation.code == "NO_SEARCH"
        # and so is a broken one
        rules.write_text("on tool_pre_invoke when block\n")
        wait(lambda: plugin._watcher.failures > 0)
        assert call(m, "search").violation.code == "NO_SEARCH"
    finally:
        asyncio.run(m.shutdown())
    assert not plugin._watcher.running


def wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the watcher did not react in time"
        time.sleep(0.05)
