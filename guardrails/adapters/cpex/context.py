"""The context facts of a cpex hook call: who calls (`user`, `tenant`), where
(`server`, `request_id`), and in which session.

cpex's GlobalContext has no session field, and hosts know their sessions in
different places, so `session` is the first of these that is a non-empty string:

1. `GlobalContext.metadata["session_id"]`: how a host that builds the context says
   it (metadata is what cpex hands every plugin read-only);
2. the payload's own `session_id` field (Mellea's session hooks carry one);
3. for a Mellea payload, the session of the `with session:` block the call runs in
   (Mellea keeps it in a context variable, `mellea.telemetry.context`);
4. the MCP session header (`mcp-session-id`, or `x-mcp-session-id` as the
   ContextForge gateway passes it on) in the payload's `headers`: ContextForge's
   `tool_pre_invoke` and the `http_*` hooks.

None of these: null, so every session-less call shares one key of a `per session`
state (stricter, never looser: docs/hosts.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_CONTEXT = (("user", "user"), ("tenant", "tenant_id"), ("server", "server_id"),
            ("request_id", "request_id"))  # fmt: skip
SESSION_KEY = "session_id"
SESSION_HEADERS = frozenset({"mcp-session-id", "x-mcp-session-id"})


def add_context(
    facts: dict[str, Any], payload: object, context: object, reads: frozenset[str]
) -> None:
    """Put the context facts `reads` names into `facts`, where the payload gave none."""
    if context is not None:
        for fact, attr in _CONTEXT:
            if fact in reads and fact not in facts:
                value = getattr(context, attr, None)
                if value is not None:
                    facts[fact] = _plain(value)
    if "session" in reads and "session" not in facts:
        facts["session"] = session_of(payload, context)


def session_of(payload: object, context: object) -> str | None:
    """The session a hook call belongs to (see the module docstring)."""
    metadata = getattr(context, "metadata", None)
    if isinstance(metadata, Mapping):
        found = _text(metadata.get(SESSION_KEY))
        if found:
            return found
    found = _text(_field(payload, SESSION_KEY))
    if found:
        return found
    if type(payload).__module__.startswith("mellea."):
        from ..mellea import current_session

        found = _text(current_session())
        if found:
            return found
    headers = _plain(_field(payload, "headers"))
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if str(name).lower() in SESSION_HEADERS and _text(value):
                return str(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _field(payload: object, name: str) -> Any:
    if isinstance(payload, Mapping):
        return payload.get(name)
    return getattr(payload, name, None)


def _plain(value: Any) -> Any:
    """A pydantic root model over a dict (cpex's `HttpHeaderPayload`) as the dict."""
    root = getattr(value, "root", None)
    if isinstance(root, Mapping) and callable(getattr(value, "model_dump", None)):
        return dict(root)
    return dict(value) if isinstance(value, Mapping) else value
