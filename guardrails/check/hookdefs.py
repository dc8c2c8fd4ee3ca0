"""The facts the language gives hooks, whichever host fires them.

The normalized facts (the same on every host) per hook name, the context facts every hook has,
and their docs (a derived fact's doc is its entry in `runtime.facts.DERIVED`). Each
host's own hooks and payload fields are in `guardrails.hosts` and reach the catalog
by registration (see `catalog.add_hosts`).

Notation: `"name: type"`, types as in `types.parse_type`; a trailing `!` marks a
fact rules may write.
"""

from __future__ import annotations

from ..runtime.facts import DERIVED

# Normalized facts: "path: type" plus `!` when writable, per hook. A
# normalized fact hides a payload field of the same name.
_GEN_PRE = ("prompt: str", "tokens: int", "model: str", "provider: str", "model_options: map!")
NORMALIZED_FACTS: dict[str, tuple[str, ...]] = {
    "generation_pre_call": _GEN_PRE,
    "generation_batch_pre_call": _GEN_PRE,
    "component_pre_execute": ("prompt: str", "tokens: int", "model_options: map!"),
    "session_pre_init": ("model: str", "provider: str", "model_options: map!"),
    "generation_post_call": ("prompt: str", "tokens: int", "output: str"),
    "generation_batch_post_call": ("output: str", "model: str", "provider: str"),
    "component_post_success": ("output: str",),
    "tool_pre_invoke": ("tool.name: str!", "tool.args: map!"),
    "tool_post_invoke": ("tool.name: str", "tool.args: map", "tool.output: any!"),
    "agent_pre_invoke": (
        "prompt: str",
        "tokens: int",
        "model: str",
        "model_options: map!",
    ),
    "agent_post_invoke": ("output: str",),
    "prompt_post_fetch": ("output: str",),
    "resource_post_fetch": ("output: str",),
    "streaming_end": ("model: str", "provider: str"),
}

# On every hook, from the cpex GlobalContext.
CONTEXT_FACTS = ("user: any", "tenant: str", "server: str", "request_id: str", "session: str")

FACT_DOCS: dict[str, str] = {
    "prompt": "text about to be sent to the model",
    **{name: fact.doc for name, fact in DERIVED.items()},
    "output": "model output text; on prompt and resource fetches, the fetched text",
    "tool.name": "name of the tool being called",
    "tool.args": "arguments of the tool call",
    "tool.output": "result of the tool call",
    "tool.id": "id of the tool call (Haystack)",
    "tool.error": "whether the tool call failed (Haystack)",
    "messages": "the conversation: a list of {role, text} (Haystack)",
    "last_message.role": "role of the last message: user, assistant, tool, system (Haystack)",
    "last_message.text": "text of the last message (Haystack); writable where hooks may rewrite it",
    "step_count": "agent steps taken so far (Haystack)",
    "token_usage.prompt_tokens": "prompt tokens the provider reported so far in the run (Haystack)",
    "token_usage.completion_tokens": "completion tokens used so far in the run (Haystack)",
    "token_usage.total_tokens": "tokens used so far: the provider's total or prompt + completion",
    "tool_call_counts": "tool name -> calls made so far (Haystack)",
    "exit_reason": "why the agent is stopping: text, an exit tool, max_agent_steps, ... (Haystack)",
    "model": "model id",
    "provider": "model provider",
    "model_options": "generation settings (temperature, max_tokens, ...)",
    "user": "the caller (GlobalContext.user): a string or a dict such as {'role': 'admin'}",
    "tenant": "tenant id (GlobalContext.tenant_id)",
    "server": "server id (GlobalContext.server_id)",
    "request_id": "request id (GlobalContext.request_id)",
    "session": "the conversation or agent run of the call (docs/hosts.md: per host)",
}
