"""Host payload objects <-> the facts dict rules are written against.

The same rule text must work whoever fires a hook, so this module maps Mellea
payloads, cpex built-in payloads and plain dicts onto the normalized facts of
docs/hooks.md (`prompt`, `tool.name`, `output`, ...) and maps rule changes back onto a
new payload (`model_copy(update=...)`, never mutation). Only the facts some rule
reads are extracted: rendering a Mellea prompt is the expensive one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ...runtime.facts import derived_sources
from ...runtime.text import content_text, message_parts, text_of
from .context import add_context
from .messages import written

_MELLEA = "mellea."


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
    """Mappings as dicts (rules and write-back work on plain data), including a
    pydantic root model over a dict (cpex's `HttpHeaderPayload`)."""
    if isinstance(value, Mapping):
        return dict(value)
    root = getattr(value, "root", None)
    if isinstance(root, Mapping) and callable(getattr(value, "model_dump", None)):
        return dict(root)
    return value


def _into(current: Any, value: Any) -> Any:
    """A rule's new value for a payload field, in the class the field held.

    Hosts read the class back: ContextForge's gateway takes `headers.root` (a plain
    dict there would drop the headers silently) and returns a fetched resource as the
    object it finds in `content`. A map written over a model is validated into the
    model's class (a map that does not fit raises, so the rule fails closed instead
    of reporting a change the host loses); a string written over a model with a
    `text` field (a resource's contents) becomes its `text`, any `blob` cleared.
    Other values go in as they are."""
    value = _blob_as_before(current, value)
    model = type(current)
    validate = getattr(model, "model_validate", None)
    if value is None or not callable(validate) or isinstance(value, model):
        return value
    fields = getattr(model, "model_fields", None) or {}
    if isinstance(value, str) and "text" in fields:
        blob = {"blob": None} if "blob" in fields else {}
        return current.model_copy(update={"text": value, **blob})
    if isinstance(value, Mapping):
        return validate(dict(value))
    return value


def _messages_text(messages: Any) -> str | None:
    """Text of a list of chat messages (dicts or objects with .content)."""
    if messages is None:
        return None
    if isinstance(messages, str):
        return messages
    parts: list[str] = []
    for msg in messages:
        role, content = message_parts(msg)
        if content is not None:
            parts.append(f"{role}: {content}" if isinstance(role, str) else content)
    return "\n".join(parts)


# ---- normalized facts: fact name -> factory(payload fields) -> extractor(payload) ----
#
# Which payload field a fact comes from is decided once per payload type (the
# factories), so a hook call only runs the chosen getters.

Extractor = Callable[[Any], Any]


def _first_field(fields: frozenset[str], *names: str) -> str | None:
    return next((n for n in names if n in fields), None)


def _prompt(fields: frozenset[str], mellea: bool) -> Extractor:
    if mellea and "action" in fields:
        from ..mellea import render_prompt

        return render_prompt
    if mellea and "actions" in fields:
        from ..mellea import render_batch_prompt

        return render_batch_prompt
    if "messages" in fields:
        return lambda p: _messages_text(p.messages)
    return lambda p: text_of(getattr(p, "prompt", None))


def _post_prompt(fields: frozenset[str], mellea: bool) -> Extractor:
    return lambda p: _messages_text(getattr(p, "prompt", None))


def _output_text(value: Any) -> str | None:
    """Output text of whatever a host returns: Mellea's thunk (`.value`), a string, a
    result with `messages` (a prompt fetch), or any other data, rendered whole."""
    inner = getattr(value, "value", value)
    if inner is None or isinstance(inner, str):
        return inner
    messages = _field(inner, "messages")
    if isinstance(messages, list | tuple) and messages:
        return _messages_text(messages)
    return content_text(inner)


def resource_text(content: Any) -> str | None:
    """The text of a fetched resource (ContextForge's `ResourceContent`, MCP's
    `TextResourceContents`/`BlobResourceContents`, or a dict of their fields): its
    `text`; else its `blob` (raw bytes, or base64 as MCP sends it) when the bytes are
    UTF-8 text; None for binary data. Anything else is rendered whole."""
    if content is None or isinstance(content, str):
        return content
    text_value = _field(content, "text")
    if isinstance(text_value, str):
        return text_value
    blob = _field(content, "blob")
    if isinstance(blob, str):
        encoded: str = blob
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return encoded
    if isinstance(blob, bytes | bytearray):
        try:
            return bytes(blob).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return content_text(content)


def _output(fields: frozenset[str], mellea: bool) -> Extractor:
    if "content" in fields and "uri" in fields:  # resource_post_fetch
        return lambda p: resource_text(p.content)
    name = _first_field(fields, "model_output", "result")
    if name is not None:
        return lambda p: _output_text(getattr(p, name))
    if "model_outputs" in fields:
        return lambda p: "\n".join(str(getattr(o, "value", o)) for o in p.model_outputs or ())
    return lambda p: _messages_text(getattr(p, "messages", None))


def _tool(fields: frozenset[str], mellea: bool) -> Extractor:
    output = _first_field(fields, "tool_output", "result")

    def extract(p: Any) -> dict[str, Any]:
        call = p.model_tool_call if "model_tool_call" in fields else None
        if call is not None:  # Mellea: a ModelToolCall dataclass
            tool = {
                "name": getattr(call, "name", None),
                "args": _plain(getattr(call, "args", None)),
            }
        else:  # cpex: name/args/result on the payload itself
            tool = {"name": getattr(p, "name", None), "args": _plain(getattr(p, "args", None))}
        if output is not None:
            tool["output"] = _plain(getattr(p, output))
        return tool

    return extract


def _renamed(*names: str) -> Callable[[frozenset[str], bool], Extractor]:
    def factory(fields: frozenset[str], mellea: bool) -> Extractor:
        name = _first_field(fields, *names)
        return (lambda p: _plain(getattr(p, name))) if name else (lambda p: None)

    return factory


def _model_options(fields: frozenset[str], mellea: bool) -> Extractor:
    """Mellea keys its own options `@@@max_new_tokens@@@` (ModelOption): rules read and
    write them by their plain names (`model_options.max_new_tokens`)."""
    plain = _renamed("model_options", "parameters")(fields, mellea)
    if not mellea:
        return plain
    from ..mellea import plain_options

    return lambda p: plain_options(plain(p))


_EXTRACTORS: dict[str, Callable[[frozenset[str], bool], Extractor]] = {
    "prompt": _prompt,
    "output": _output,
    "tool": _tool,
    "model": _renamed("model", "model_id"),
    "provider": _renamed("provider", "backend_name"),
    "model_options": _model_options,
}
_POST_HOOKS = frozenset({"generation_post_call"})

Plan = tuple[tuple[str, Callable[[Any], Any]], ...]


@functools.lru_cache(maxsize=512)
def _plan(payload_type: type, hook: str, reads: frozenset[str], normalized: frozenset[str]) -> Plan:
    """What to read from a payload of this type: decided once per type, not per call."""
    steps: list[tuple[str, Callable[[Any], Any]]] = []
    model_fields = getattr(payload_type, "model_fields", None)
    fields = frozenset(model_fields) if isinstance(model_fields, Mapping) else frozenset()
    mellea = payload_type.__module__.startswith(_MELLEA)
    taken: set[str] = set()
    for root in sorted(normalized):
        if root in reads or root in derived_sources(reads):
            post = root == "prompt" and hook in _POST_HOOKS
            factory = _post_prompt if post else _EXTRACTORS.get(root)
            if factory is not None:
                steps.append((root, factory(fields, mellea)))
                taken.add(root)
    for name in sorted((fields & reads) - taken):
        if name == "content" and "uri" in fields:  # resource_post_fetch
            steps.append((name, _resource_content))
        else:
            steps.append((name, functools.partial(_read_field, name)))
    return tuple(steps)


def _read_field(name: str, payload: Any) -> Any:
    return _plain(getattr(payload, name, None))


def _resource_content(payload: Any) -> Any:
    """A fetched resource as rules see it: a base64 `blob` that encodes UTF-8 text
    comes as that text (the field stays a string), so `redact content` rewrites the
    text a reader of the resource gets (`output` reads the same text), and `_into`
    encodes it back. Binary data and anything else stay as the host sent them."""
    content = _plain(getattr(payload, "content", None))
    blob = _field(content, "blob")
    if not isinstance(blob, str):
        return content
    try:
        decoded = base64.b64decode(blob, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return content
    return _with_blob(content, decoded)


def _blob_as_before(current: Any, value: Any) -> Any:
    """A resource's blob written back in the host's encoding: rules saw a base64 blob
    decoded (`_resource_content`) and a redaction leaves text, so it goes back as
    base64 text, or as bytes where the host held bytes."""
    before, after = _field(current, "blob"), _field(value, "blob")
    if after is None or after == before or not isinstance(after, str | bytes):
        return value
    raw = after.encode("utf-8") if isinstance(after, str) else after
    if isinstance(before, str):
        return _with_blob(value, base64.b64encode(raw).decode("ascii"))
    if isinstance(before, bytes):
        return _with_blob(value, raw)
    return value


def _with_blob(content: Any, blob: str | bytes) -> Any:
    if isinstance(content, Mapping):
        return {**content, "blob": blob}
    copy = getattr(content, "model_copy", None)
    return copy(update={"blob": blob}) if callable(copy) else content


def extract_facts(
    hook: str, payload: object, context: object, reads: frozenset[str], normalized: frozenset[str]
) -> dict[str, Any]:
    """Facts for the rules of one hook call.

    `reads` are the top-level facts the rules read; `normalized` are the hook's
    normalized fact roots. A dict payload is taken as facts as it is.
    """
    if type(payload) is dict or isinstance(payload, Mapping):
        facts = dict(payload)
    else:
        payload_type: Any = type(payload)
        plan = _plan(payload_type, hook, reads, normalized)
        shared = _shared_state(payload_type, context)
        facts = {}
        for name, get_value in plan:
            if name == "prompt" and shared is not None:
                facts[name] = _shared_prompt(shared, hook, payload, get_value)
            else:
                facts[name] = get_value(payload)
    add_context(facts, payload, context, reads)
    return facts


# A Mellea hook call runs one cpex plugin per rule group, each on its own deep copy of
# the payload, so the prompt would be rendered once per group. The GlobalContext of
# that one call is shared (cpex merges plugin state back into it), so the first
# plugin leaves the rendered prompt there for the others. Mellea builds a new
# GlobalContext for every hook call, but another host may reuse one for many calls:
# the key names the payload (its creation time, request and generation ids, which
# survive cpex's copies) and what could change the text within one call (the model
# and its options), so a later call never reads an earlier call's prompt.
_STATE_KEY = "guardrails.rendered_prompt"


def _shared_state(payload_type: type, context: object) -> dict[str, Any] | None:
    if not payload_type.__module__.startswith(_MELLEA):
        return None
    state = getattr(context, "state", None)
    return state if isinstance(state, dict) else None


def _shared_prompt(state: dict[str, Any], hook: str, payload: Any, render: Extractor) -> Any:
    key = (
        hook,
        repr(getattr(payload, "timestamp", None)),
        getattr(payload, "request_id", None),
        getattr(payload, "generation_id", None),
        getattr(payload, "model", None),
        repr(getattr(payload, "model_options", None)),
    )
    cached = state.get(_STATE_KEY)
    if isinstance(cached, tuple) and len(cached) == 2 and cached[0] == key:
        return cached[1]
    text = render(payload)
    state[_STATE_KEY] = (key, text)
    return text


# ---- writing rule changes back onto the payload ----


def write_back(payload: Any, facts: Mapping[str, Any], changes: Collection[str]) -> Any:
    """A new payload carrying the changed facts; the input payload is not modified.

    `changes` are the dotted fact paths the rules wrote (`model_options.temperature`).
    """
    roots = {path.split(".")[0] for path in changes}
    if isinstance(payload, Mapping):
        new = dict(payload)
        for root in roots:
            new[root] = written(payload.get(root), facts.get(root))
        return new
    update: dict[str, Any] = {}
    for root in sorted(roots):
        value = facts.get(root)
        if root == "tool":
            parts = {p.split(".")[1] for p in changes if p.startswith("tool.")}
            _tool_update(payload, value, parts, update)
        elif root == "model_options" and not _has_field(payload, "model_options"):
            update["parameters"] = value
        elif root == "model_options" and type(payload).__module__.startswith(_MELLEA):
            from ..mellea import mellea_options

            update[root] = mellea_options(value, getattr(payload, root, None))
        elif _has_field(payload, root):
            update[root] = written(getattr(payload, root, None), value, _into)
        else:
            raise ValueError(f"fact {root!r} has no field to write to on {type(payload).__name__}")
    return payload.model_copy(update=update)


def _tool_update(payload: Any, tool: Any, parts: set[str], update: dict[str, Any]) -> None:
    tool = tool if isinstance(tool, Mapping) else {}
    call = _field(payload, "model_tool_call")
    if "name" in parts:
        if call is not None or not _has_field(payload, "name"):
            # a Mellea ModelToolCall runs its own function, whatever it is named
            raise ValueError(f"cannot rename the tool call of a {type(payload).__name__}")
        update["name"] = tool.get("name")
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
            update["result"] = _into(getattr(payload, "result", None), tool.get("output"))
