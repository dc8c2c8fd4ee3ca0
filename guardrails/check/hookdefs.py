"""The built-in hook tables: Mellea 0.8 hooks and cpex 0.1.4 built-in hooks.

Written out as data instead of imported, so `import guardrails` never pulls in Mellea
or cpex. `tests/test_catalog_drift.py` compares these tables with the real payload
classes and Mellea's policy table, so a library upgrade that changes them fails CI.

Notation: `"name: type"`, types as in `types.parse_type`; a trailing `!` marks a
payload field the host lets plugins write.
"""

from __future__ import annotations

from ..runtime.facts import DERIVED

MELLEA_BASE_FIELDS = (
    "session_id: str|null",
    "request_id: str",
    "timestamp: any",
    "hook: str",
    "user_metadata: map",
)

# hook -> payload fields (besides the base fields). Source: mellea.plugins.hooks.*,
# writable fields from mellea/plugins/policies.py.
MELLEA_HOOKS: dict[str, tuple[str, ...]] = {
    "session_pre_init": (
        "backend_name: str",
        "model_id: str!",
        "model_options: map|null!",
        "context_type: str",
    ),
    "session_post_init": ("model_id: str", "context: any"),
    "session_reset": ("previous_context: any",),
    "session_cleanup": ("context: any", "interaction_count: int", "exception: any"),
    "component_pre_execute": (
        "action_id: str",
        "component_type: str",
        "action: any",
        "context_view: list|null",
        "requirements: list!",
        "model_options: map!",
        "format: any!",
        "strategy: any!",
        "tool_calls_enabled: bool!",
    ),
    "component_post_success": (
        "action_id: str",
        "component_type: str",
        "action: any",
        "result: any",
        "context_before: any",
        "context_after: any",
        "generate_log: any",
        "sampling_results: list|null",
        "sampling_success: bool|null",
        "latency_ms: int",
    ),
    "component_post_error": (
        "action_id: str",
        "component_type: str",
        "action: any",
        "error: any",
        "error_type: str",
        "stack_trace: str",
        "context: any",
        "model_options: map",
    ),
    "generation_pre_call": (
        "action: any",
        "context: any",
        "model_options: map!",
        "format: any!",
        "tool_calls: bool!",
        "generation_id: str|null",
        "model: str|null",
        "provider: str|null",
    ),
    "generation_post_call": (
        "prompt: any",
        "model_output: any",
        "latency_ms: float",
        "generation_id: str|null",
    ),
    "generation_error": (
        "exception: any",
        "model_output: any",
        "generation_id: str|null",
        "latency_ms: float",
    ),
    "generation_batch_pre_call": (
        "actions: list",
        "generation_id: str|null",
        "model_options: map!",
        "format: any!",
        "tool_calls: bool!",
        "num_actions: int",
        "model: str|null",
        "provider: str|null",
    ),
    "generation_batch_post_call": (
        "generation_id: str|null",
        "model_outputs: list",
        "usage: map|null",
        "model: str|null",
        "provider: str|null",
        "latency_ms: float",
    ),
    "generation_batch_error": (
        "generation_id: str|null",
        "exception: any",
        "model: str|null",
        "provider: str|null",
        "latency_ms: float",
    ),
    "generation_event": (
        "generation_id: str|null",
        "event_name: str",
        "model: str|null",
        "provider: str|null",
        "data: map",
    ),
    "validation_pre_check": (
        "validation_id: str",
        "requirements: list!",
        "target: any",
        "context: any",
        "model_options: map!",
    ),
    "validation_post_check": (
        "validation_id: str",
        "requirements: list",
        "results: list!",
        "all_validations_passed: bool!",
        "passed_count: int",
        "failed_count: int",
        "exception: any",
    ),
    "sampling_loop_start": (
        "sampling_id: str",
        "strategy_name: str",
        "action: any",
        "context: any",
        "requirements: list",
        "loop_budget: int!",
    ),
    "sampling_iteration": (
        "sampling_id: str",
        "strategy_name: str",
        "iteration: int",
        "action: any",
        "result: any",
        "validation_results: list",
        "all_validations_passed: bool",
        "valid_count: int",
        "total_count: int",
    ),
    "sampling_repair": (
        "sampling_id: str",
        "repair_type: str",
        "failed_action: any",
        "failed_result: any",
        "failed_validations: list",
        "repair_action: any",
        "repair_context: any",
        "repair_iteration: int",
    ),
    "sampling_loop_end": (
        "sampling_id: str",
        "strategy_name: str",
        "success: bool",
        "iterations_used: int",
        "final_result: any",
        "final_action: any",
        "final_context: any",
        "failure_reason: str|null",
        "exception: any",
        "all_results: list",
        "all_validations: list",
    ),
    "tool_pre_invoke": (
        "tool_invocation_id: str",
        "model_tool_call: any!",
        "is_control_flow: bool",
    ),
    "tool_post_invoke": (
        "tool_invocation_id: str",
        "model_tool_call: any",
        "tool_output: any!",
        "tool_message: any",
        "execution_time_ms: int",
        "success: bool",
        "error: any",
        "is_control_flow: bool",
    ),
    "adapter_function_invocation_complete": (
        "name: str",
        "revision: str|null",
        "binding_type: str",
        "adapter_type: str",
        "outcome: str",
        "error: any",
    ),
    "adapter_function_phase_complete": ("name: str", "phase: str", "duration_ms: float"),
    "streaming_start": (
        "streaming_id: str",
        "has_requirements: bool",
        "requirement_count: int",
        "chunking_strategy: str",
    ),
    "streaming_event": ("streaming_id: str", "event: any", "requirements: list"),
    "streaming_end": (
        "streaming_id: str",
        "success: bool",
        "failure_reason: str|null",
        "exception: any",
        "model: str|null",
        "provider: str|null",
        "full_text_length: int",
    ),
}

# cpex built-in hooks (cpex.framework.hooks.*). cpex itself leaves writability to the
# host's HookPayloadPolicy; the `!` marks are the fields our binding lets rules write,
# which are the fields ContextForge's gateway 1.0 takes back from a plugin.
CPEX_HOOKS: dict[str, tuple[str, ...]] = {
    "tool_pre_invoke": ("name: str!", "args: map|null!", "headers: map|null!"),
    "tool_post_invoke": ("name: str", "result: any!"),
    "prompt_pre_fetch": ("prompt_id: str", "args: map|null!"),
    "prompt_post_fetch": ("prompt_id: str", "result: any!"),
    "resource_pre_fetch": ("uri: str!", "metadata: map|null!"),
    "resource_post_fetch": ("uri: str", "content: any!"),
    "agent_pre_invoke": (
        "agent_id: str!",
        "messages: list!",
        "tools: list[str]|null!",
        "headers: map|null!",
        "model: str|null!",
        "system_prompt: str|null!",
        "parameters: map|null!",
    ),
    "agent_post_invoke": ("agent_id: str", "messages: list!", "tool_calls: list|null!"),
    "http_pre_request": (
        "path: str",
        "method: str",
        "client_host: str|null",
        "client_port: int|null",
        "headers: map!",
    ),
    "http_post_request": (
        "path: str",
        "method: str",
        "client_host: str|null",
        "client_port: int|null",
        "headers: map",
        "response_headers: map|null!",
        "status_code: int|null",
    ),
    "http_auth_resolve_user": (
        "credentials: map|null",
        "headers: map",
        "client_host: str|null",
        "client_port: int|null",
    ),
    "http_auth_check_permission": (
        "user_email: str",
        "permission: str",
        "resource_type: str|null",
        "team_id: str|null",
        "is_admin: bool",
        "auth_method: str|null",
        "client_host: str|null",
        "user_agent: str|null",
    ),
    "identity_resolve": (
        "raw_token: any",
        "source: str",
        "headers: map",
        "client_host: str|null",
        "client_port: int|null",
    ),
    "token_delegate": (
        "target_name: str",
        "target_type: str",
        "target_audience: str|null",
        "required_permissions: list[str]",
        "trust_domain: str|null",
        "auth_enforced_by: str",
        "route_attenuation: any",
        "bearer_token: any",
    ),
}

# Normalized facts (DESIGN §5): "path: type" plus `!` when writable, per hook. A
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

# On every hook, from the cpex GlobalContext.
CONTEXT_FACTS = ("user: any", "tenant: str", "server: str", "request_id: str")

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
}
