"""Message lists agree on every host path: random rule sets that `append`, `prepend`
and `replace` on `agent_pre_invoke` (mixed with blocks and warnings, over modes and
priorities) give the same outcome and the same messages through `Policy.evaluate`, a
real cpex manager with a fresh or a reused GlobalContext, cpex's YAML loader, and a
`guardrails serve` process. A verdict claims a change only when the host's payload
carries it."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from pathlib import Path
from typing import Any

from cpex.framework import GlobalContext, MCPClientConfig, PluginConfig, PluginError
from cpex.framework import TenantPluginManager as Manager
from cpex.framework.hooks.agents import AgentPreInvokePayload
from cpex.framework.models import Config
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import guardrails
from guardrails.runtime.messages import role_and_text

logging.getLogger("cpex").setLevel(logging.CRITICAL)

HOOK = "agent_pre_invoke"
MODES = ("sequential", "transform", "audit", "concurrent")
CONDITIONS = ("", 'when agent_id == "a"', "when len(messages) > 1", 'when agent_id != "a"')
CHANGES = (
    'append {{"role": "system", "text": "context {i}"}} to messages',
    'prepend {{"role": "system", "text": "first"}} to messages',
    'append {{"role": "user", "text": "for {{agent_id}}"}} to messages',
    'replace messages /secret/ with "[gone {i}]"',
    'replace messages "o" with "[o]"',
)
OTHERS = ('block "stop" code M_{i}', 'warn "look" code W_{i}')


@st.composite
def rule_sets(draw: Any) -> str:
    lines = []
    for i in range(draw(st.integers(1, 5))):
        mode = draw(st.sampled_from(MODES))
        choices = list(OTHERS) if mode != "transform" else [OTHERS[1]]
        if mode in ("sequential", "transform"):
            choices += CHANGES
        action = draw(st.sampled_from(choices)).format(i=i)
        condition = draw(st.sampled_from(CONDITIONS))
        priority = draw(st.integers(1, 3))
        lines.append(f"rule r{i} on {HOOK} mode {mode} priority {priority} {condition} {action}")
    return "\n".join(lines) + "\n"


MESSAGES = (
    {"role": "user", "content": "hello"},
    {"role": "user", "content": "my secret is x"},
    {"role": "assistant", "content": "ok"},
    {"role": "user", "content": {"type": "text", "text": "so secret"}},
)
calls = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.lists(st.sampled_from(MESSAGES), max_size=3)),
    min_size=1,
    max_size=3,
)


def shown(messages: Any) -> list[tuple[str | None, str | None]]:
    return [role_and_text(m) for m in messages]


def expected(policy: guardrails.Policy, agent: str, messages: list[Any]) -> tuple[Any, ...]:
    verdict = policy.evaluate(HOOK, {"agent_id": agent, "messages": list(messages)})
    if verdict.outcome == "block":
        return ("block", verdict.blocked_by)
    changed = any("messages" in r.changes for r in verdict.rules)
    assert changed == (verdict.outcome == "modify")
    return ("allow", shown(verdict.payload["messages"]) if changed else None)


async def through(manager: Any, agent: str, messages: list[Any], gctx: Any) -> tuple[Any, ...]:
    payload = AgentPreInvokePayload(agent_id=agent, messages=list(messages))
    try:
        result, _ = await manager.invoke_hook(HOOK, payload, gctx)
    except PluginError as err:
        found = re.search(r"rule (\w+) failed", str(err))
        return ("block", found.group(1) if found else str(err))
    if not result.continue_processing:
        return ("block", result.violation.details.get("rule"))
    modified = result.modified_payload
    return ("allow", shown(modified.messages) if modified is not None else None)


def yaml_manager(folder: Path, text: str) -> Manager:
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "r.rules").write_text(text)
    entries = "".join(
        f"  - name: g-{mode}\n    kind: guardrails.cpex.RulesPlugin\n    hooks: [{HOOK}]\n"
        f"    mode: {mode}\n    priority: 1\n"
        f"    config: {{rules: {folder / 'rules'}, others: skip}}\n"
        for mode in sorted({m for m in MODES if f"mode {m} " in text})
    )
    (folder / "plugins.yaml").write_text("plugins:\n" + entries)
    return Manager(str(folder / "plugins.yaml"))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=rule_sets(), batch=calls)
def test_message_edits_agree_on_every_in_process_path(tmp_path_factory, text, batch):
    try:
        policy = guardrails.loads(text, "r.rules")
    except guardrails.RulesError:
        assume(False)
        return
    want = [expected(policy, agent, messages) for agent, messages in batch]
    event("outcomes: " + ", ".join(sorted({w[0] if w[1] is None else f"{w[0]}+" for w in want})))

    async def hosts() -> dict[str, list[tuple[Any, ...]]]:
        manager = await policy.manager(timeout=5)
        yaml = yaml_manager(tmp_path_factory.mktemp("yaml"), text)
        await yaml.initialize()
        reused = GlobalContext(request_id="shared")
        seen: dict[str, list[tuple[Any, ...]]] = {"fresh": [], "reused": [], "yaml": []}
        for i, (agent, messages) in enumerate(batch):
            fresh = GlobalContext(request_id=str(i))
            seen["fresh"].append(await through(manager, agent, messages, fresh))
            seen["reused"].append(await through(manager, agent, messages, reused))
            seen["yaml"].append(await through(yaml, agent, messages, GlobalContext(request_id="y")))
        await yaml.shutdown()
        return seen

    for host, got in asyncio.run(hosts()).items():
        assert got == want, f"{host} disagrees with evaluate on\n{text}\n{batch}"


SERVED = """
rule stop on agent_pre_invoke priority 1 when agent_id == "blocked" block "no" code NO
rule ground on agent_pre_invoke priority 2 when len(messages) > 0
  append {"role": "system", "text": "Answer from the documents."} to messages
rule scrub on agent_pre_invoke mode transform priority 3
  replace messages /secret/ with "[gone]"
"""


def test_a_served_policy_edits_messages_as_evaluate_does(tmp_path):
    """Over MCP stdio, the payload crosses JSON both ways: the server writes the
    messages back and the client's payload carries them."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "m.rules").write_text(SERVED)
    policy = guardrails.load(rules)
    batch = [
        ("a", [MESSAGES[0], MESSAGES[1]]),
        ("a", [MESSAGES[3]]),
        ("a", []),
        ("blocked", [MESSAGES[0]]),
        ("a", [{"role": "system", "content": "Answer from the documents."}, MESSAGES[2]]),
    ]
    want = [expected(policy, agent, messages) for agent, messages in batch]
    command = [sys.executable, "-m", "guardrails", "serve", str(rules)]
    entries = [
        PluginConfig(
            name=f"guardrails-{mode}", kind="external", hooks=[HOOK], mode=mode,
            priority=10 * (i + 1), mcp=MCPClientConfig(proto="STDIO", cmd=command),
        )
        for i, mode in enumerate(("sequential", "transform"))
    ]  # fmt: skip

    async def served() -> list[tuple[Any, ...]]:
        manager = Manager(Config(plugins=entries))
        await manager.initialize()
        try:
            return [
                await through(manager, agent, messages, GlobalContext(request_id=str(i)))
                for i, (agent, messages) in enumerate(batch)
            ]
        finally:
            await manager.shutdown()

    assert asyncio.run(served()) == want
    assert want[0] == (
        "allow",
        [("user", "hello"), ("user", "[gone]"), ("system", "Answer from the documents.")],
    )
    assert want[3] == ("block", "stop") and want[2] == ("allow", None)
    assert want[4] == ("allow", None)  # the message is there already: no change claimed
