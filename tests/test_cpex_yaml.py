"""Rules loaded through cpex's own YAML config loader (`kind: guardrails.cpex.RulesPlugin`)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cpex.framework import (
    GlobalContext,
    Plugin,
    PluginConfig,
    PluginError,
    PluginResult,
    TenantPluginManager,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config
from cpex.framework.settings import get_startup_settings

from guardrails.adapters.cpex.config_check import KIND, check_entries
from guardrails.cpex import ConfigRefused, RulesPlugin

ROOT = Path(__file__).resolve().parents[1]

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
        + entry("missing", "sequential", 20, "{rules: /nowhere/at/all}"))  # fmt: skip
    assert m.plugin_count == 2  # nothing was skipped by cpex's fail-open loader
    result = call(m, "ls")
    assert result.continue_processing is False and result.violation.code == "GUARDRAIL_CONFIG"
    assert result.violation.http_status_code == 503  # a gateway client gets no HTTP 200
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


# ---- configs in which cpex would let through calls the rules block ----


class RaisesInInit(Plugin):
    """A plugin that fails to load (kind `tests.test_cpex_yaml.RaisesInInit`)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        raise ValueError("cannot start")


class RaisesInInitialize(Plugin):
    async def initialize(self) -> None:
        raise ValueError("cannot start")


class Allows(Plugin):
    async def tool_pre_invoke(self, payload: Any, context: Any) -> PluginResult[Any]:
        return PluginResult()


def plain_manager(tmp_path: Path, text: str) -> Any:
    config = tmp_path / "plugins.yaml"
    config.write_text("plugins:\n" + text)
    return TenantPluginManager(str(config))


@pytest.fixture
def fail_on_plugin_error(monkeypatch):
    monkeypatch.setenv("PLUGINS_FAIL_ON_PLUGIN_ERROR", "true")
    get_startup_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_startup_settings.cache_clear()


@pytest.mark.parametrize("kind", ["RaisesInInit", "RaisesInInitialize"])
def test_cpex_skips_a_plugin_that_fails_to_load_and_lets_calls_through(tmp_path, kind):
    """What the host sees from cpex's loader: the failure is a log line, not an error."""
    m = plain_manager(tmp_path, f"  - name: p\n    kind: tests.test_cpex_yaml.{kind}\n"
                                "    hooks: [tool_pre_invoke]\n")  # fmt: skip
    asyncio.run(m.initialize())
    assert (m.initialized, m.plugin_count) == (True, 0)
    assert call(m, "shell").continue_processing


@pytest.mark.usefixtures("fail_on_plugin_error")
def test_with_fail_on_plugin_error_cpex_raises_instead(tmp_path):
    m = plain_manager(tmp_path, "  - name: p\n    kind: tests.test_cpex_yaml.RaisesInInit\n"
                                "    hooks: [tool_pre_invoke]\n")  # fmt: skip
    with pytest.raises(RuntimeError, match="Plugin initialization failed: p - cannot start"):
        asyncio.run(m.initialize())


def refused(tmp_path: Path, entries: str) -> str:
    """The message `initialize()` raises with for this config."""
    with pytest.raises(ConfigRefused) as info:
        manager(tmp_path, entries)
    assert "guardrails refuses the cpex config" in str(info.value)
    return str(info.value)


def shell_call_blocked(tmp_path: Path, entries: str) -> bool:
    return not call(manager(tmp_path, entries), "shell").continue_processing


SKIP = "{rules: RULES, others: skip}"
ALL_MODES = entry("shape", "transform", 20, SKIP) + entry("shadow", "audit", 30, SKIP)


def test_an_entry_missing_a_hook_its_rules_use_is_refused(tmp_path):
    # deny_shell is on tool_pre_invoke: cpex never calls this entry for that hook
    text = refused(tmp_path, entry("enforce", "sequential", 10, SKIP, hooks="[tool_post_invoke]")
                   + ALL_MODES)  # fmt: skip
    assert "plugins[0] 'enforce' (hooks): rules use hooks this entry does not list: " \
           "tool_pre_invoke" in text  # fmt: skip
    assert shell_call_blocked(tmp_path, entry("enforce", "sequential", 10, SKIP) + ALL_MODES)


def test_an_entry_with_no_hooks_is_refused(tmp_path):
    text = refused(tmp_path, entry("enforce", "sequential", 10, SKIP, hooks="[]") + ALL_MODES)
    assert "'enforce' (hooks): lists no hooks: cpex never calls it" in text
    no_key = entry("enforce", "sequential", 10, SKIP).replace("    hooks: [tool_pre_invoke]\n", "")
    assert "lists no hooks" in refused(tmp_path, no_key + ALL_MODES)  # cpex's default: []


def test_two_entries_with_one_name_are_refused(tmp_path):
    # cpex would keep the audit entry and drop the enforcing one, with an ERROR log
    text = refused(tmp_path,
        entry("guard", "audit", 30, SKIP) + entry("shape", "transform", 20, SKIP)
        + entry("guard", "sequential", 10, SKIP))  # fmt: skip
    assert "plugins[2] 'guard' (name): plugins[0] has the same name: cpex loads only the " \
           "first and drops this one" in text  # fmt: skip
    # a disabled entry is never registered, so it takes no name
    other = (
        "  - name: guard\n    kind: tests.test_cpex_yaml.RaisesInInitialize\n    mode: disabled\n"
    )
    assert shell_call_blocked(tmp_path, other + entry("guard", "sequential", 10, SKIP) + ALL_MODES)
    # a plugin of another kind under our name drops ours just the same
    taken = "  - name: guard\n    kind: tests.test_cpex_yaml.Allows\n    hooks: [tool_pre_invoke]\n"
    assert "plugins[1] 'guard' (name)" in refused(tmp_path, taken + entry(
        "guard", "sequential", 10, SKIP) + ALL_MODES)  # fmt: skip


@pytest.mark.parametrize("mode", ["concurrent", "audit", "fire_and_forget", "permissive"])
def test_an_entry_whose_mode_selects_no_rules_is_refused(tmp_path, mode):
    sequential = tmp_path / "sequential.rules"  # only sequential rules: `mode` runs none
    sequential.write_text(RULES.partition("rule tag")[0])
    config = f"{{rules: {sequential}, others: skip}}"
    text = refused(tmp_path, entry("enforce", "sequential", 10, config)
                   + entry("other", mode, 20, config))  # fmt: skip
    canonical = "transform" if mode == "permissive" else mode  # cpex's legacy alias
    assert f"plugins[1] 'other' (mode): selects no rules: the rules at {sequential} have " \
           f"none in mode {canonical} on a hook cpex fires (theirs: sequential)" in text  # fmt: skip
    assert shell_call_blocked(tmp_path, entry("enforce", "sequential", 10, config))


@pytest.mark.parametrize("on_error", ["ignore", "disable"])
def test_a_transform_entry_that_ignores_errors_is_refused(tmp_path, on_error):
    shape = entry("shape", "transform", 20, "{rules: /nowhere, others: skip}")
    text = refused(tmp_path, shape.replace("    config:", f"    on_error: {on_error}\n    config:"))
    assert f"'shape' (on_error): on_error: {on_error} on a transform entry" in text
    # a manager built from a Config object is checked the same way
    ignoring = Config(plugins=[PluginConfig(name="shape", kind=KIND, hooks=["tool_pre_invoke"],
        mode="transform", on_error=on_error, config={"rules": "/nowhere"})])  # fmt: skip
    with pytest.raises(ConfigRefused):
        asyncio.run(TenantPluginManager(ignoring).initialize())


def test_a_refusal_passes_through_cpex_whatever_its_settings(tmp_path, fail_on_plugin_error):
    """ConfigRefused is a BaseException: cpex's skip-on-error handler does not catch it."""
    text = refused(tmp_path, entry("enforce", "sequential", 10, SKIP, hooks="[]") + ALL_MODES)
    assert "lists no hooks" in text


def test_an_entry_built_without_a_manager_checks_itself():
    config = PluginConfig(name="e", kind=KIND, hooks=[], config={"rules": "rules/"})
    with pytest.raises(ConfigRefused, match="lists no hooks"):
        RulesPlugin(config)


def test_a_check_that_crashes_refuses_the_config(tmp_path, monkeypatch):
    def crash(entries: Any) -> Any:
        raise OSError("disk gone")

    monkeypatch.setattr(
        "guardrails.adapters.cpex.yaml_plugin.check_entries", crash
    )  # cpex would skip the entry
    assert "the config could not be checked: OSError('disk gone')" in refused(
        tmp_path, entry("enforce", "sequential", 10, SKIP) + ALL_MODES)  # fmt: skip


def test_every_entry_over_rules_that_do_not_load_is_reported():
    entries = [PluginConfig(name=name, kind=KIND, hooks=["tool_pre_invoke"], mode=mode,
                            config={"rules": "/nowhere"})
               for name, mode in (("a", "sequential"), ("b", "audit"))]  # fmt: skip
    found = check_entries(entries)
    assert [(p.entry, p.severity, p.field) for p in found] == [
        ("a", "blocks", "config"),
        ("b", "blocks", "config"),
    ]


def test_a_failing_entry_logs_what_it_does_to_which_calls(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="guardrails.cpex")
    manager(tmp_path,
        entry("enforce", "sequential", 10, "{rules: /nowhere}", hooks="[tool_pre_invoke, agent_pre_invoke]")
        + entry("shape", "transform", 20, "{rules: /nowhere}")
        + entry("shadow", "audit", 30, "{rules: /nowhere}"))  # fmt: skip
    said = [r.getMessage().split(":")[0] for r in caplog.records]
    assert said == [
        "guardrails plugin enforce blocks every call to tool_pre_invoke, agent_pre_invoke",
        "guardrails plugin shape raises on every call to tool_pre_invoke (cpex PluginError)",
        "guardrails plugin shadow records the problem on every call to tool_pre_invoke; the "
        "calls go on",
    ]


def test_rules_no_entry_runs_are_a_warning_not_a_refusal(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="guardrails.cpex")
    m = manager(tmp_path, entry("enforce", "sequential", 10, SKIP))  # another host may run the rest
    assert m.plugin_count == 1 and not call(m, "shell").continue_processing
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no entry of this config runs the audit rules watch" in w for w in warned)
    assert any("no entry of this config runs the transform rules tag" in w for w in warned)


# ---- guardrails check-config ----


def check_config(tmp_path: Path, entries: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "tools.rules").write_text(RULES)
    config = tmp_path / "plugins.yaml"
    config.write_text("plugins:\n" + entries.replace("RULES", str(tmp_path / "rules")))
    return cli("check-config", str(config))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guardrails", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_check_config_passes_a_config_that_runs_every_rule(tmp_path):
    proc = cli("check-config", "examples/cpex/plugins.yaml")
    assert (proc.returncode, proc.stdout) == (
        0,
        "examples/cpex/plugins.yaml: ok: 3 guardrails entries\n",
    )
    proc = check_config(tmp_path, entry("enforce", "sequential", 10, SKIP) + ALL_MODES)
    assert proc.returncode == 0 and proc.stdout.endswith("ok: 3 guardrails entries\n")
    proc = check_config(tmp_path, entry("enforce", "sequential", 10, SKIP))  # warnings only
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.endswith("ok: 1 guardrails entry, 2 warning(s)\n")
    assert ":7: warning: entry 'enforce': no entry of this config runs the audit rules watch" \
        in proc.stdout  # fmt: skip


def test_check_config_reports_each_problem_at_its_line(tmp_path):
    proc = check_config(tmp_path,
        entry("enforce", "sequential", 10, SKIP, hooks="[tool_post_invoke]")  # lines 2-7
        + entry("enforce", "transform", 20, SKIP).replace("    config:", "    on_error: ignore\n    config:")
        + entry("shadow", "concurrent", 30, SKIP)  # lines 15-20
        + entry("missing", "sequential", 40, "{rules: /nowhere}"))  # fmt: skip
    config = tmp_path / "plugins.yaml"
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines[0] == (f"{config}:4: error: entry 'enforce': rules use hooks this entry does not "
        "list: tool_pre_invoke; cpex never calls the entry for them, so those rules never run "
        "[cpex initialize() fails on this config]")  # fmt: skip
    assert lines[1].startswith(f"{config}:7: warning: entry 'enforce': no entry of this config "
                               "runs the audit rules watch")  # fmt: skip
    assert lines[2].startswith(f"{config}:8: error: entry 'enforce': plugins[0] has the same name")
    assert lines[3].startswith(f"{config}:13: error: entry 'enforce': on_error: ignore on a "
                               "transform entry")  # fmt: skip
    assert lines[4].startswith(f"{config}:18: error: entry 'shadow': selects no rules")
    assert lines[5] == (f"{config}:26: error: entry 'missing': rules at /nowhere have errors: "
        "[the entry loads and blocks every call to its hooks]")  # fmt: skip
    assert "cannot read /nowhere" in lines[6]
    assert lines[-1] == f"{config}: 5 error(s), 1 warning(s)"


def test_check_config_refuses_what_cpex_would_quietly_load_as_nothing(tmp_path):
    proc = cli("check-config", str(tmp_path / "none.yaml"))
    assert proc.returncode == 1 and "no such file (cpex would load no plugins)" in proc.stdout
    proc = cli("check-config", "examples/cpex/external.yaml")
    assert proc.returncode == 1 and "no guardrails.cpex.RulesPlugin entry" in proc.stdout
    (tmp_path / "bad.yaml").write_text("plugins:\n  - name: x\n")
    proc = cli("check-config", str(tmp_path / "bad.yaml"))
    assert proc.returncode == 1 and "cpex cannot read it" in proc.stdout


OTHERS = (
    "  - name: typo\n    kind: plugins.pii_filter.PIIFilterPlugn\n    hooks: [tool_pre_invoke]\n"
    "    mode: sequential\n    priority: 1\n"
    "  - name: odd\n    kind: guardrails.cpex.RulesPlugin\n    hooks: [tool_pre_invoke, tool_pre_invok]\n"
    "    mode: sequential\n    priority: 3\n    config: {rules: RULES, others: skip}\n"
)


def test_what_cpex_would_skip_elsewhere_in_the_config_is_refused(tmp_path):
    """A misspelled kind is skipped by cpex, and every call goes through: with our entry
    in the config, it refuses. (cpex's config model itself rejects an external entry
    with no transport or a URL its SSRF check refuses: check-config reports those as
    a config cpex cannot read.)"""
    proc = check_config(tmp_path, OTHERS + ALL_MODES)
    assert proc.returncode == 1, proc.stdout
    assert "entry 'typo': kind 'plugins.pii_filter.PIIFilterPlugn' does not import" in proc.stdout
    assert "warning: entry 'odd': no host fires tool_pre_invok" in proc.stdout
    text = refused(tmp_path, OTHERS + ALL_MODES)
    assert "does not import" in text


# ---- the gateway next to an MCP SDK it does not import on ----


@pytest.mark.parametrize(
    ("gateway", "mcp", "broken"),
    [
        ("1.0.6", "2.3.0", True),
        ("1.0.7", "2.3.0", False),
        ("1.0.7.post20260921", "2.3.0", False),
        ("1.0.6", "1.30.0", False),
        ("0.9.0", "2.0.0", True),
        (None, "2.3.0", False),
    ],
)
def test_gateway_problem_names_the_versions_and_the_fix(monkeypatch, gateway, mcp, broken):
    from importlib.metadata import PackageNotFoundError

    from guardrails.adapters.cpex import compat

    def fake_version(name: str) -> str:
        found = {"mcp-contextforge-gateway": gateway, "mcp": mcp}[name]
        if found is None:
            raise PackageNotFoundError(name)
        return found

    monkeypatch.setattr(compat, "version", fake_version)
    monkeypatch.setattr(compat, "MCP2", mcp.startswith("2."))
    problem = compat.gateway_problem()
    assert bool(problem) == broken
    if broken:
        assert f"mcp-contextforge-gateway {gateway}" in problem and f"mcp {mcp}" in problem
        assert "guardrails-rules[gateway]" in problem


def test_check_config_fails_when_the_gateway_cannot_import(monkeypatch):
    from click.testing import CliRunner

    from guardrails.adapters.cpex import compat
    from guardrails.tooling import cli as cli_module

    monkeypatch.setattr(compat, "gateway_problem", lambda: "gateway 1.0.6 on mcp 2")
    result = CliRunner().invoke(cli_module.main, ["check-config", "examples/cpex/plugins.yaml"])
    assert result.exit_code == 1, result.output
    assert "error: gateway 1.0.6 on mcp 2" in result.output
    assert "1 error(s)" in result.output


def test_an_entry_sets_the_rules_time_budget_and_a_bad_one_fails_closed(tmp_path):
    """`time_budget_ms:` as `load(time_budget_ms=...)`: a gateway's entry has no other
    way to give slow rules (host functions, a judge) more than the 250 ms default."""
    config = "{rules: RULES, others: skip, time_budget_ms: BUDGET}"
    budgets = {}
    for given in ("1234", "null"):
        m = manager(tmp_path, entry("enforce", "sequential", 10, config.replace("BUDGET", given)))
        plugin = m._registry.get_plugin("enforce").plugin
        runners = plugin._served[1]
        budgets[given] = {r.time_budget for r in runners.values()}
        assert call(m, "shell").violation.code == "NO_SHELL"
    assert budgets == {"1234": {1.234}, "null": {None}}
    m = manager(tmp_path, entry("enforce", "sequential", 10, "{rules: RULES, others: skip}"))
    plugin = m._registry.get_plugin("enforce").plugin
    assert plugin.problem is None, plugin.problem
    runners = plugin._served[1]
    assert {r.time_budget for r in runners.values()} == {0.25}
    for bad in ("fast", "0", "-5", "true"):
        m = manager(tmp_path, entry("enforce", "sequential", 10, config.replace("BUDGET", bad)))
        result = call(m, "search")
        assert result.violation.code == "GUARDRAIL_CONFIG"
        assert "config.time_budget_ms must be a positive number" in result.violation.description
