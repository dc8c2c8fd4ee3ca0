"""cpex 0.1.4's built-in hooks (those the ContextForge gateway fires): their payload fields.

Written out as data instead of imported, so checking rules never pulls in cpex;
`tests/test_catalog.py` compares this table with cpex's payload classes.

Notation as in `guardrails.hosts.mellea`.
"""

from __future__ import annotations

from .table import HostTable

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

# The messages an agent is invoked with: a host that reads the payload's `messages`
# back sends what the rules added (ContextForge's gateway 1.0 does not: docs/hosts.md).
MESSAGE_HOOKS = {"agent_pre_invoke": ("system", "user", "assistant")}

TABLE = HostTable("cpex", CPEX_HOOKS, messages=MESSAGE_HOOKS)
