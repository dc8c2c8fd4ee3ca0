"""Haystack 3.4's Agent hook points: the facts guardrails.adapters.haystack reads from State.

A Haystack hook gets the Agent's State, not a payload, so these hooks have no payload
fields, only facts; and Haystack's Agent fires them, never a cpex manager, so cpex
plugins do not serve them. `on_exit` is where an agent is about to stop, so `continue`
(refuse the exit) means something there.

Notation as in `guardrails.hosts.mellea`.
"""

from __future__ import annotations

from .table import HostTable

# Haystack Agent hook points (haystack-ai 3.4): facts read from the Agent's State by
# guardrails.adapters.haystack. They have no payload fields, only normalized facts.
_HS_BASE = (
    "messages: list",
    "prompt: str",
    "tokens: int",
    "last_message.role: str",
    "step_count: int",
    # provider usage, summed over the run; its keys vary by provider, so the adapter
    # gives these three (absent ones null) and the checker rejects any other key
    "token_usage.prompt_tokens: int|null",
    "token_usage.completion_tokens: int|null",
    "token_usage.total_tokens: int|null",
    "tool_call_counts: map",
    "exit_reason: str|null",
)
_HS_TEXT = (*_HS_BASE, "last_message.text: str|null!")
HAYSTACK_HOOKS: dict[str, tuple[str, ...]] = {
    "before_run": _HS_TEXT,
    "before_llm": _HS_TEXT,
    "before_tool": (
        *_HS_BASE,
        "last_message.text: str|null",
        "tool.name: str",
        "tool.args: map!",
        "tool.id: str|null",
    ),
    "after_tool": (
        *_HS_BASE,
        "last_message.text: str|null",
        "tool.name: str",
        "tool.args: map",
        "tool.id: str|null",
        "tool.output: str!",
        "tool.error: bool",
    ),
    "on_exit": _HS_TEXT,
    "after_run": _HS_TEXT,
}

# Hooks where an agent is about to stop, so `continue` (refuse the exit) means something.
CONTINUE_HOOKS = frozenset({"on_exit"})

# Where the model sees a changed `messages`: before the first step, before each LLM
# call. A new message needs no tool call to pair with, so it cannot be a tool result.
MESSAGE_HOOKS = dict.fromkeys(("before_run", "before_llm"), ("system", "user", "assistant"))

TABLE = HostTable(
    "haystack",
    dict.fromkeys(HAYSTACK_HOOKS, ()),
    facts=HAYSTACK_HOOKS,
    in_cpex=False,
    agent_exits=CONTINUE_HOOKS,
    messages=MESSAGE_HOOKS,
)
