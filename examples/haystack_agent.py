"""Guard a Haystack Agent with the rules in rules/ (plus one agent-only rule).

A scripted chat generator stands in for the model, so this runs with no model and no
network; swap in any Haystack chat generator for real use.

    python examples/haystack_agent.py
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage, ToolCall
from haystack.tools import create_tool_from_function

import guardrails
from guardrails.records import MemorySink
from guardrails.testing.haystack import ScriptedChatGenerator

RULES = Path(__file__).resolve().parent.parent / "rules"
# An agent-only rule, in its own text here to keep rules/ host-neutral: the agent may
# not finish before it has saved its result.
AGENT_RULES = """
rule save_first "the agent saves its result before it answers"
  on on_exit
  when tool_call_counts["save_result"] == 0
  continue "call save_result before you answer" code SAVE_FIRST
"""


def shell(cmd: str) -> str:
    """Run a shell command."""
    return f"ran {cmd}"


def read_config(name: str) -> str:
    """Read a configuration file."""
    return f"{name}: host=db.internal api_key=sk-live-0123456789abcdefghijkl"


def save_result(text: str) -> str:
    """Save the agent's result."""
    return "saved"


def call(tool: str, **args: str) -> ChatMessage:
    return ChatMessage.from_assistant(tool_calls=[ToolCall(tool_name=tool, arguments=args)])


def main() -> None:
    logging.getLogger("haystack").setLevel(logging.ERROR)
    sink = MemorySink()
    policy = guardrails.load(RULES, sinks=[sink])
    agent_only = guardrails.loads(AGENT_RULES, "agent.rules", sinks=[sink])
    hooks = policy.haystack_hooks()
    for point, extra in agent_only.haystack_hooks().items():
        hooks.setdefault(point, []).extend(extra)
    script = [
        call("shell", cmd="rm -rf /srv/data"),  # blocked: destructive for everyone
        call("read_config", name="app.ini"),  # runs; the key is redacted
        "The database host is db.internal.",  # refused: nothing saved yet
        call("save_result", text="db.internal"),
        "Saved. The database host is db.internal.",
    ]
    generator = ScriptedChatGenerator(script)
    agent = Agent(
        chat_generator=generator,
        tools=[create_tool_from_function(f) for f in (shell, read_config, save_result)],
        hooks=hooks,
        max_agent_steps=8,
    )
    result = agent.run(
        messages=[ChatMessage.from_user("Find the database host.")],
        hook_context={"user": {"role": "admin"}},
    )
    for message in result["messages"]:
        if message.tool_call_result is not None:
            text = f"tool {message.tool_call_result.origin.tool_name}: "
            text += str(message.tool_call_result.result)
        elif message.tool_calls:
            text = "calls " + ", ".join(f"{c.tool_name}({c.arguments})" for c in message.tool_calls)
        else:
            text = str(message.text)
        print(f"{message.role.value:<9} {text}")
    print(f"exit: {result['exit_reason']}, tool calls: {result['tool_call_counts']}")
    for record in sink.records:
        print(f"decision: {record.hook} {record.rule} {record.verdict} {record.code or ''}")


if __name__ == "__main__":
    main()
