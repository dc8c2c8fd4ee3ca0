"""A message list the rules edited (`append`, `prepend`, `replace`), written back into a
cpex payload's `messages` as the payload's own kind of message.

Rules add `{role, text}` rows; the host holds message objects of its own (cpex's
`StructuredData` made from dicts, cpex's CMF `Message`, the gateway's `Message`, or
plain dicts) whose `content` is a string, a text part or a list of parts. A message
the rules kept is the host's object as it was; a new or replaced one is built like
the messages around it, so the host reads it as it reads its own. A message class
that cannot take the role (the gateway's `Role` has no `system`) raises, and the
rule fails closed instead of reporting a message the host never gets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...runtime.messages import MessageList, role_and_text


def written(current: Any, value: Any, other: Callable[[Any, Any], Any] | None = None) -> Any:
    """What goes back into a payload field for a fact the rules changed: a message list
    they edited as the host's messages; anything else as `other` makes it (or as is)."""
    if isinstance(value, MessageList):
        return messages_into(current, value)
    return value if other is None else other(current, value)


def messages_into(current: Sequence[Any] | None, edited: Sequence[Any]) -> list[Any]:
    """The payload's new `messages`: `edited` (a `MessageList` whose `origins` point
    into `current`) with every row that is not the host's own object built anew."""
    before = list(current or ())
    origins: Sequence[int | None] = getattr(edited, "origins", range(len(edited)))
    sample = before[0] if before else None
    out: list[Any] = []
    for row, origin in zip(edited, origins, strict=True):
        if origin is not None and row is before[origin]:
            out.append(row)
            continue
        role, text = role_and_text(row)
        if origin is not None:
            out.append(_with_text(before[origin], text or ""))
        else:
            out.append(_new(sample, role or "user", text or ""))
    return out


def _new(sample: Any, role: str, text: str) -> Any:
    content = _content_like(_field(sample, "content"), text)
    message = {"role": role, "content": content}
    validate = getattr(type(sample), "model_validate", None)
    if sample is None or isinstance(sample, Mapping) or not callable(validate):
        return message
    return validate(message)


def _with_text(message: Any, text: str) -> Any:
    content = _content_like(_field(message, "content"), text)
    if isinstance(message, Mapping):
        return {**message, "content": content}
    copy = getattr(message, "model_copy", None)
    if callable(copy):
        return copy(update={"content": content})
    raise ValueError(f"cannot change the text of a {type(message).__name__} message")


def _content_like(content: Any, text: str) -> Any:
    """`text` in the shape of `content`: a string, a text part (a copy of it), or a
    list holding one; anything else (a raw A2A request) gives way to the plain text."""
    if content is None or isinstance(content, str):
        return text
    if isinstance(content, list | tuple):
        part = next((p for p in content if _text_part(p)), None)
        return [_content_like(part, text)] if part is not None else text
    if _text_part(content):
        if isinstance(content, Mapping):
            return {**content, "text": text}
        return content.model_copy(update={"text": text})
    return text


def _text_part(part: Any) -> bool:
    kind = _field(part, "type")
    kind = getattr(kind, "value", kind)
    has_copy = isinstance(part, Mapping) or callable(getattr(part, "model_copy", None))
    return has_copy and isinstance(_field(part, "text"), str) and kind in (None, "text")


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)
