"""Rules that remember, in cpex: one state exchange per hook call however the rules are
grouped into plugins, the session each call belongs to, and the YAML entries' `state:`
(where each entry keeps its states, and the configs that would count wrong)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from cpex.framework import (
    GlobalContext,
    PluginError,
    TenantPluginManager,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config

import guardrails
from guardrails.adapters.cpex.binding import RulesPlugin, StatePlugin, decisions
from guardrails.adapters.cpex.config_check import check_file, entry_lines, render
from guardrails.adapters.cpex.context import session_of
from guardrails.cpex import ConfigRefused
from guardrails.records import MemorySink

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("guardrails.cpex").setLevel(logging.CRITICAL)

HOOK = "tool_pre_invoke"
# counted in a transform rule, read by rules in three other modes at other priorities
SPLIT = """
counter calls per session limit 2
rule count on tool_pre_invoke mode transform priority 50 add 1 to calls
rule limit on tool_pre_invoke priority 20 when calls >= calls.limit block "{calls} calls" code LIMIT
rule watch on tool_pre_invoke mode audit when calls >= 1 block "seen before" code SEEN
rule plain on tool_pre_invoke priority 5 when tool.name == "rm" block "no rm" code NO_RM
"""


def call(manager: Any, name: str = "ls", gctx: GlobalContext | None = None, **meta: Any) -> Any:
    """(outcome code or None, the audit decisions) of one tool_pre_invoke call."""
    gctx = gctx or GlobalContext(request_id="r", metadata=meta)
    payload = ToolPreInvokePayload(name=name, args={})
    try:
        result, _ = asyncio.run(manager.invoke_hook(HOOK, payload, gctx))
    except PluginError as err:
        return str(err), []
    code = None if result.continue_processing else result.violation.code
    return code, [d.get("code") for d in decisions(result)]


def test_the_exchange_is_one_plugin_before_every_group_on_the_hooks_with_state():
    policy = guardrails.loads(SPLIT + "rule other on tool_post_invoke priority 1 warn\n")
    plugins = policy.plugins()
    [front] = [p for p in plugins if isinstance(p, StatePlugin)]
    assert isinstance(front, RulesPlugin)  # swapped out with the groups on a reload
    assert front.config.hooks == [HOOK] and front.config.mode.value == "sequential"
    assert front.config.priority < min(p.config.priority for p in plugins if p is not front)
    assert front.config.on_error.value == "fail"
    stateless = guardrails.loads('rule plain on tool_pre_invoke when tool.name == "rm" block')
    assert not any(isinstance(p, StatePlugin) for p in stateless.plugins())


def test_a_call_counts_once_whichever_groups_read_it():
    policy = guardrails.loads(SPLIT, "split.rules")
    manager = asyncio.run(policy.manager(timeout=5))
    seen = [call(manager, session_id="s") for _ in range(4)]
    assert seen == [(None, []), (None, ["SEEN"]), ("LIMIT", []), ("LIMIT", [])]
    assert call(manager, "rm", session_id="t") == ("NO_RM", [])  # counted all the same
    assert call(manager, session_id="t") == (None, ["SEEN"])


def test_a_reused_context_starts_a_new_call_each_time():
    policy = guardrails.loads(SPLIT, "split.rules")
    manager = asyncio.run(policy.manager(timeout=5))
    gctx = GlobalContext(request_id="one request", metadata={"session_id": "s"})
    assert [call(manager, gctx=gctx)[0] for _ in range(3)] == [None, None, "LIMIT"]


def test_groups_without_the_exchange_fail_closed_and_count_nothing():
    """A group never does an exchange of its own: without the state plugin's snapshot
    its stateful rules are errors, and nothing is counted."""
    policy = guardrails.loads(SPLIT, "split.rules")
    manager = TenantPluginManager(Config(plugins=[]), timeout=5)
    asyncio.run(manager.initialize())
    for plugin in policy.plugins():
        if not isinstance(plugin, StatePlugin):
            manager._registry.register(plugin)
    gctx = GlobalContext(request_id="r", metadata={"session_id": "s"})
    result, _ = asyncio.run(manager.invoke_hook(HOOK, ToolPreInvokePayload(name="ls"), gctx))
    assert result.violation.code == "GUARDRAIL_ERROR"
    assert result.violation.details["rule"] == "limit"
    assert "the call's state was not prepared" in result.violation.description
    assert len(policy.state) == 0


def test_a_captured_call_is_one_record_with_the_groups_decisions():
    sink = MemorySink()
    policy = guardrails.loads(SPLIT, "split.rules", sinks=[sink], capture=True)
    manager = asyncio.run(policy.manager(timeout=5))
    for _ in range(2):
        call(manager, session_id="s")
    first, second = sink.calls
    assert first.facts == {"tool": {"name": "ls", "args": {}}, "session": "s"}
    assert [(d.rule, d.call_id) for d in sink.records] == [("watch", second.call_id)]


class BrokenStore:
    def exchange(self, ops: Any, now: float) -> Any:
        raise ConnectionError("store unreachable")


def test_a_store_that_fails_blocks_the_stateful_rules_only():
    policy = guardrails.loads(SPLIT.replace("mode transform ", ""), "s.rules", state=BrokenStore())
    manager = asyncio.run(policy.manager(timeout=5))
    result, _ = asyncio.run(
        manager.invoke_hook(HOOK, ToolPreInvokePayload(name="ls"), GlobalContext(request_id="r"))
    )
    assert result.violation.code == "GUARDRAIL_ERROR"
    assert "store unreachable" in result.violation.description
    assert result.violation.details["rule"] == "limit"
    assert call(manager, "rm")[0] == "NO_RM"


GUARDED = """
counter emails per session limit 5
rule count_emails on tool_pre_invoke when tool.name == "send_email" add 1 to emails
rule email_limit on tool_pre_invoke when tool.name == "send_email" and emails >= emails.limit block
"""


def test_with_the_store_down_cpex_decides_as_evaluate_does_on_calls_the_index_rules_out():
    """The index rules the email rules out for a search, so the lean cpex path did not
    run them and allowed the call, while `Policy.evaluate` (a run of every rule) failed
    closed on the store: two hosts, two outcomes for the same call."""
    policy = guardrails.loads(GUARDED, "g.rules", state=BrokenStore())
    verdict = policy.evaluate(HOOK, {"tool": {"name": "search", "args": {}}})
    assert (verdict.outcome, verdict.code) == ("block", "GUARDRAIL_ERROR")
    manager = asyncio.run(policy.manager(timeout=5))
    assert call(manager, "search")[0] == "GUARDRAIL_ERROR"


def test_plugins_handed_out_go_stale_when_a_reload_needs_an_exchange_they_lack():
    post = "rule post on tool_post_invoke priority 20 {}warn\n"
    policy = guardrails.loads(SPLIT + post.format(""), "split.rules")
    manager = TenantPluginManager(Config(plugins=[]), timeout=5)
    asyncio.run(manager.initialize())
    for plugin in policy.plugins():
        manager._registry.register(plugin)
    assert call(manager, session_id="s")[0] is None
    fitting = SPLIT.replace("priority 5 when", "priority 5 when calls > 5 and")
    policy.reload(fitting + post.format(""))
    assert call(manager, session_id="s") == (None, ["SEEN"])  # fits: same groups, same hook
    # the same groups, but tool_post_invoke now needs an exchange these plugins never do
    policy.reload(SPLIT + post.format("when calls > 9 "))
    assert call(manager, session_id="s")[0] == "GUARDRAIL_STALE"
    post_call = ToolPostInvokePayload(name="ls", result="ok")
    gctx = GlobalContext(request_id="r")
    result, _ = asyncio.run(manager.invoke_hook("tool_post_invoke", post_call, gctx))
    assert result.violation.code == "GUARDRAIL_STALE"


# ---- the session ----

STREAK = """
streak same per session of tool.name
rule track on tool_pre_invoke track same
rule loop on tool_pre_invoke when same >= 1 block "again" code LOOP
"""


@pytest.mark.filterwarnings("ignore:ToolPreInvokePayload.headers is deprecated")
def test_the_session_comes_from_the_context_metadata_then_the_payload():
    manager = asyncio.run(guardrails.loads(STREAK).manager(timeout=5))
    assert [call(manager, session_id="a")[0] for _ in range(2)] == [None, "LOOP"]
    assert call(manager, session_id="b")[0] is None  # another session, another streak
    headers = {"mcp-session-id": "c"}
    payload = ToolPreInvokePayload(name="ls", headers=headers)
    assert session_of(payload, GlobalContext(request_id="r")) == "c"
    assert session_of(payload, GlobalContext(request_id="r", metadata={"session_id": "m"})) == "m"
    assert session_of({"session_id": "p"}, None) == "p"
    assert session_of(ToolPreInvokePayload(name="ls"), GlobalContext(request_id="r")) is None


def test_calls_without_a_session_share_one():
    manager = asyncio.run(guardrails.loads(STREAK).manager(timeout=5))
    assert call(manager)[0] is None
    assert call(manager, session_id="")[0] == "LOOP"  # empty is no session


@pytest.mark.filterwarnings("ignore:ToolPreInvokePayload.headers is deprecated")
def test_the_mcp_session_header_gives_the_session():
    manager = asyncio.run(guardrails.loads(STREAK).manager(timeout=5))

    def with_header(session: str) -> Any:
        payload = ToolPreInvokePayload(name="ls", headers={"X-MCP-Session-Id": session})
        result, _ = asyncio.run(manager.invoke_hook(HOOK, payload, GlobalContext(request_id="r")))
        return None if result.continue_processing else result.violation.code

    assert [with_header("h1"), with_header("h2"), with_header("h1")] == [None, None, "LOOP"]


# ---- YAML entries ----


def yaml(tmp_path: Path, rules: str, entries: list[tuple[str, str, int, str, str]]) -> Path:
    """A cpex config: entries of (name, mode, priority, hooks, extra config)."""
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.rules").write_text(rules)
    text = "plugins:\n" + "".join(
        f"  - name: {name}\n    kind: guardrails.cpex.RulesPlugin\n    hooks: [{hooks}]\n"
        f"    mode: {mode}\n    priority: {priority}\n"
        f"    config: {{rules: {tmp_path / 'rules'}, others: skip{extra}}}\n"
        for name, mode, priority, hooks, extra in entries
    )
    (tmp_path / "plugins.yaml").write_text(text)
    return tmp_path / "plugins.yaml"


SEARCHES = """
counter searches per session
rule count on tool_post_invoke mode audit when tool.name == "search" add 1 to searches
rule answer on tool_pre_invoke when tool.name == "answer" and searches == 0 block "search first" code NEEDS_SEARCH
"""
SEARCH_ENTRIES = [
    ("enforce", "sequential", 10, HOOK, ""),
    ("count", "audit", 10, "tool_post_invoke", ""),
]


def test_entries_of_one_config_share_their_memory_store(tmp_path):
    manager = TenantPluginManager(str(yaml(tmp_path, SEARCHES, SEARCH_ENTRIES)))
    asyncio.run(manager.initialize())
    assert call(manager, "answer", session_id="s")[0] == "NEEDS_SEARCH"
    searched = ToolPostInvokePayload(name="search", result="found")
    gctx = GlobalContext(request_id="r", metadata={"session_id": "s"})
    asyncio.run(manager.invoke_hook("tool_post_invoke", searched, gctx))
    assert call(manager, "answer", session_id="s")[0] is None
    assert call(manager, "answer", session_id="other")[0] == "NEEDS_SEARCH"


def test_an_unknown_state_setting_fails_the_entry_closed(tmp_path):
    entries = [("enforce", "sequential", 10, HOOK, ", state: disk")]
    manager = TenantPluginManager(str(yaml(tmp_path, STREAK, entries)))
    asyncio.run(manager.initialize())
    assert call(manager)[0] == "GUARDRAIL_CONFIG"


@pytest.mark.parametrize(
    ("rules", "entries", "problem"),
    [
        (  # the audit entry would read what the sequential one counted in the same call
            STREAK + 'rule seen on tool_pre_invoke mode audit when same >= 1 warn "seen"\n',
            [("enforce", "sequential", 1, HOOK, ""), ("watch", "audit", 1, HOOK, "")],
            "'watch' (config): rules read state 'same' on tool_pre_invoke, which entry "
            "'enforce' records there",
        ),
        (  # a call the sequential entry blocks never reaches the counting one
            SEARCHES.replace("tool_post_invoke", "tool_pre_invoke"),
            [("enforce", "sequential", 10, HOOK, ""), ("count", "audit", 10, HOOK, "")],
            "'count' (config): rules record state 'searches' on tool_pre_invoke in an entry "
            "that runs after entry 'enforce', which can stop the call there",
        ),
        (  # one rule, two entries: every call would count twice
            STREAK,
            [("first", "sequential", 1, HOOK, ""), ("again", "sequential", 2, HOOK, "")],
            "'again' (config): rule track records state 'same' on tool_pre_invoke here and "
            "in entry 'first'",
        ),
        (  # one state in two stores
            SEARCHES,
            [SEARCH_ENTRIES[0], (*SEARCH_ENTRIES[1][:4], ", state: 'redis://127.0.0.1:1/0'")],
            "'count' (config): state 'searches' is kept in `state: redis://127.0.0.1:1/0` "
            "here and in another store by entry 'enforce'",
        ),
    ],
)
def test_configs_that_would_count_wrong_are_refused(tmp_path, rules, entries, problem):
    config = yaml(tmp_path, rules, entries)
    with pytest.raises(ConfigRefused) as refused:
        asyncio.run(TenantPluginManager(str(config)).initialize())
    assert problem in str(refused.value)
    problems, _ = check_file(config)  # what `guardrails check-config` reports
    lines = render(config, problems, entry_lines(config.read_text()))
    assert any(problem.split(" (config): ")[1] in line for line in lines), lines
    assert all(": error: entry" in line for line in lines)


def test_the_entries_allowed_count_like_evaluate(tmp_path):
    """The refusals leave the usual config working: the rules that count and read a
    state on a hook in one entry, and an entry that counts on another hook."""
    config = yaml(tmp_path, SEARCHES + STREAK, SEARCH_ENTRIES)
    manager = TenantPluginManager(str(config))
    asyncio.run(manager.initialize())
    assert [call(manager, session_id="s")[0] for _ in range(2)] == [None, "LOOP"]
