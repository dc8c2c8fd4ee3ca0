"""Host payload objects <-> the facts dict rules are written against.

The same rule text must work whoever fires a hook, so this module maps Mellea
payloads, cpex built-in payloads and plain dicts onto the normalized facts of
DESIGN §5 (`prompt`, `tool.name`, `output`, ...) and maps rule changes back onto a
new payload (`model_copy(update=...)`, never mutation). Only the facts some rule
reads are extracted: rendering a Mellea prompt is the expensive one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..runtime.ops import get, text_of

_MELLEA = "mellea."


def is_mellea(payload: object) -> bool:
    return type(payload).__module__.startswith(_MELLEA)


def _field(payload: object, name: str) -> Any:
    if isinstance(payload, Mapping):
        return payload.get(name)
    return getattr(payload, name, None)


def _has_field(payload: object, name: str) -> bool:
    if isinstance(payload, Mapping):
        return name in payload
    fields = getattr(type(payload), "model_fields", None)
    return isinstance(fields, Mapping) and name in fields


def _plain(value: Any) -> Any:
    """Mappings as dicts (rules and write-back work on plain data)."""
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _messages_text(messages: Any) -> str | None:
    """Text of a list of chat messages (dicts or objects with .content)."""
    if messages is None:
        return None
    if isinstance(messages, str):
        return messages
    parts: list[str] = []
    for msg in messages:
        content = get(msg, "content") if isinstance(msg, Mapping) else getattr(msg, "content", msg)
        if isinstance(content, str):
            role = get(msg, "role") if isinstance(msg, Mapping) else getattr(msg, "role", None)
            parts.append(f"{role}: {content}" if isinstance(role, str) else content)
    return "\n".join(parts)


# ---- normalized facts, per hook: fact name -> extractor(payload) ----


def _mellea_prompt(payload: Any) -> str | None:
    from .mellea import render_prompt

    return render_prompt(payload)


def _prompt(payload: Any) -> str | None:
    if is_mellea(payload):
        return _mellea_prompt(payload)
    if _has_field(payload, "messages"):
        return _messages_text(_field(payload, "messages"))
    return text_of(_field(payload, "prompt"))


def _post_prompt(payload: Any) -> str | None:
    return _messages_text(_field(payload, "prompt"))


def _output(payload: Any) -> str | None:
    for name in ("model_output", "result"):
        value = _field(payload, name)
        if value is not None:
            text = getattr(value, "value", value)
            return text if isinstance(text, str) else None
    outputs = _field(payload, "model_outputs")
    if outputs:
        return "\n".join(str(getattr(o, "value", o)) for o in outputs)
    return _messages_text(_field(payload, "messages"))


def _tool(payload: Any) -> dict[str, Any]:
    call = _field(payload, "model_tool_call")
    tool: dict[str, Any] = {}
    if call is not None:  # Mellea: a ModelToolCall dataclass
        tool["name"] = getattr(call, "name", None)
        tool["args"] = _plain(getattr(call, "args", None))
    else:  # cpex: name/args/result on the payload
        tool["name"] = _field(payload, "name")
        tool["args"] = _plain(_field(payload, "args"))
    if _has_field(payload, "tool_output"):
        tool["output"] = _plain(_field(payload, "tool_output"))
    elif _has_field(payload, "result"):
        tool["output"] = _plain(_field(payload, "result"))
    return tool


def _model(payload: Any) -> Any:
    return _field(payload, "model") if _has_field(payload, "model") else _field(payload, "model_id")


def _provider(payload: Any) -> Any:
    if _has_field(payload, "provider"):
        return _field(payload, "provider")
    return _field(payload, "backend_name")


def _model_options(payload: Any) -> Any:
    if _has_field(payload, "model_options"):
        return _plain(_field(payload, "model_options"))
    return _plain(_field(payload, "parameters"))


_EXTRACTORS: dict[str, Callable[[Any], Any]] = {
    "prompt": _prompt,
    "output": _output,
    "tool": _tool,
    "model": _model,
    "provider": _provider,
    "model_options": _model_options,
}
_POST_HOOKS = frozenset({"generation_post_call"})


def extract_facts(
    hook: str, payload: object, context: object, reads: Collection[str], normalized: Collection[str]
) -> dict[str, Any]:
    """Facts for the rules of one hook call.

    `reads` are the top-level facts the rules read; `normalized` are the hook's
    normalized fact roots. A dict payload is taken as facts as it is.
    """
    if isinstance(payload, Mapping):
        facts = dict(payload)
    else:
        facts = {}
        fields = getattr(type(payload), "model_fields", None)
        if isinstance(fields, Mapping):
            for name in fields:
                if name in reads:
                    facts[name] = _plain(getattr(payload, name, None))
        for root in normalized:
            if root in reads or (root == "prompt" and "tokens" in reads):
                if root == "prompt" and hook in _POST_HOOKS:
                    facts[root] = _post_prompt(payload)
                elif root in _EXTRACTORS:
                    facts[root] = _EXTRACTORS[root](payload)
    if context is not None:
        for fact, attr in (
            ("user", "user"),
            ("tenant", "tenant_id"),
            ("server", "server_id"),
            ("request_id", "request_id"),
        ):
            value = getattr(context, attr, None)
            if value is not None and fact not in facts:
                facts[fact] = _plain(value)
    return facts


# ---- writing rule changes back onto the payload ----


def write_back(payload: Any, facts: Mapping[str, Any], changes: Collection[str]) -> Any:
    """A new payload carrying the changed facts; the input payload is not modified.

    `changes` are the dotted fact paths the rules wrote (`model_options.temperature`).
    """
    roots = {path.split(".")[0] for path in changes}
    if isinstance(payload, Mapping):
        new = dict(payload)
        for root in roots:
            new[root] = facts.get(root)
        return new
    update: dict[str, Any] = {}
    for root in sorted(roots):
        value = facts.get(root)
        if root == "tool":
            parts = {p.split(".")[1] for p in changes if p.startswith("tool.")}
            _tool_update(payload, value, parts, update)
        elif root == "model_options" and not _has_field(payload, "model_options"):
            update["parameters"] = value
        elif _has_field(payload, root):
            update[root] = value
        else:
            raise ValueError(f"fact {root!r} has no field to write to on {type(payload).__name__}")
    return payload.model_copy(update=update)


def _tool_update(payload: Any, tool: Any, parts: set[str], update: dict[str, Any]) -> None:
    tool = tool if isinstance(tool, Mapping) else {}
    call = _field(payload, "model_tool_call")
    if "args" in parts and call is not None and _has_field(payload, "model_tool_call"):
        if dataclasses.is_dataclass(call) and not isinstance(call, type):
            update["model_tool_call"] = dataclasses.replace(call, args=tool.get("args"))
        else:
            raise ValueError(f"cannot rewrite the arguments of a {type(call).__name__}")
    elif "args" in parts and _has_field(payload, "args"):
        update["args"] = tool.get("args")
    if "output" in parts:
        if _has_field(payload, "tool_output"):
            update["tool_output"] = tool.get("output")
        elif _has_field(payload, "result"):
            update["result"] = tool.get("output")
