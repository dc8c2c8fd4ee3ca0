"""One rules directory, three hosts: the same rule in rules/tools.rules refuses a
destructive shell command in a Haystack Agent, a Mellea session and a cpex manager
loaded from a YAML config (the ContextForge way). No model and no network.

    python examples/three_hosts.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

RULES = Path(__file__).resolve().parent.parent / "rules"
COMMAND = {"cmd": "rm -rf /var/lib/data"}


def shell(cmd: str) -> str:
    """Run a shell command (never reached in this example)."""
    raise AssertionError(f"the guardrail let {cmd!r} through")


def haystack(policy: Any) -> str:
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage, ToolCall
    from haystack.tools import create_tool_from_function

    from guardrails.testing.haystack import ScriptedChatGenerator

    wants_shell = ChatMessage.from_assistant(
        tool_calls=[ToolCall(tool_name="shell", arguments=COMMAND, id="call-1")]
    )
    generator = ScriptedChatGenerator([wants_shell, "I could not clean up."])
    agent = Agent(
        chat_generator=generator,
        tools=[create_tool_from_function(shell)],
        hooks=policy.haystack_hooks(),
    )
    result = agent.run(
        messages=[ChatMessage.from_user("clean up")], hook_context={"user": {"role": "admin"}}
    )
    told = [m.tool_call_result.result for m in result["messages"] if m.tool_call_result]
    return f"shell ran {result['tool_call_counts']['shell']} time(s); the model was told {told}"


def mellea(policy: Any) -> str:
    from mellea import MelleaSession, ModelOption
    from mellea.backends.tools import MelleaTool
    from mellea.plugins import PluginViolationError, plugin_scope
    from mellea.stdlib.functional import call_tools

    from guardrails.testing.canned import CannedBackend, ToolCallReply

    backend = CannedBackend([ToolCallReply("shell", COMMAND)], model_id="granite4:micro")
    with plugin_scope(*policy.plugins()):
        options = {ModelOption.TOOLS: [MelleaTool.from_callable(shell)]}
        result = MelleaSession(backend).instruct(
            "clean up", strategy=None, tool_calls=True, model_options=options
        )
        try:
            call_tools(result, backend)
        except PluginViolationError as err:
            return f"blocked [{err.code}] {err.reason}"
    return "allowed"


def cpex_yaml(policy: Any) -> str:
    from cpex.framework import GlobalContext, TenantPluginManager, ToolPreInvokePayload

    # one entry per mode, listing every hook its rules use (anything less is refused
    # at load: see `guardrails check-config`)
    hooks: dict[str, set[str]] = {}
    for rule in policy.rules:
        served = [h for h in rule.hooks if policy.catalog.in_cpex(h)]
        hooks.setdefault(rule.mode, set()).update(served)
    config = Path(tempfile.mkdtemp(prefix="guardrails-example-")) / "plugins.yaml"
    config.write_text(
        "plugins:\n"
        + "".join(
            f"  - name: guardrails-{mode}\n"
            "    kind: guardrails.cpex.RulesPlugin\n"
            f"    hooks: [{', '.join(sorted(names))}]\n"
            f"    mode: {mode}\n"
            "    priority: 10\n"
            f"    config: {{rules: {str(RULES)!r}, others: skip}}\n"
            for mode, names in sorted(hooks.items())
        )
    )

    async def call() -> Any:
        manager = TenantPluginManager(str(config))
        await manager.initialize()
        try:
            result, _ = await manager.invoke_hook(
                "tool_pre_invoke",
                ToolPreInvokePayload(name="shell", args=COMMAND),
                GlobalContext(request_id="example", user={"role": "admin"}),
            )
        finally:
            await manager.shutdown()
        return result

    result = asyncio.run(call())
    if result.continue_processing:
        return "allowed"
    return f"blocked [{result.violation.code}] {result.violation.reason}"


def main() -> None:
    import guardrails

    logging.getLogger("cpex").setLevel(logging.CRITICAL)
    logging.getLogger("mellea").setLevel(logging.CRITICAL)
    policy = guardrails.load(RULES)
    print(f"haystack  {haystack(policy)}")
    print(f"mellea    {mellea(policy)}")
    print(f"cpex yaml {cpex_yaml(policy)}")


if __name__ == "__main__":
    main()
