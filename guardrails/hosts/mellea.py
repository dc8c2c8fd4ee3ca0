"""Mellea 0.8's hooks: the payload fields of each, as Mellea's plugin system passes them.

Written out as data instead of imported, so checking rules never pulls in Mellea;
`tests/test_catalog.py` compares this table with the real payload classes and Mellea's
policy table, so a Mellea upgrade that changes them fails CI. Mellea fires its hooks
through a cpex plugin manager, so cpex plugins serve them.

Notation: `"name: type"`, types as in `guardrails.check.types.parse_type`; a trailing
`!` marks a payload field the host lets plugins write.
"""

from __future__ import annotations

from .table import HostTable

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

TABLE = HostTable("mellea", MELLEA_HOOKS, base_fields=MELLEA_BASE_FIELDS)
