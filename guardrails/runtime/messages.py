"""A rule's `append`, `prepend` and `replace` on a host's message list, as data.

The engine works on the list the host gave (Haystack's `{role, text}` rows, a cpex
payload's message objects, plain dicts) and never mutates it: an edit returns a
`MessageList`, a new list that remembers where each of its messages came from, so
the host puts its own message objects back (tool calls, meta and all) and builds new
ones only for what a rule added or replaced. An edit that changes nothing returns the
list it was given, so the engine reports no change it did not make.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .ops import RuleTypeError, check_size, type_name
from .text import message_parts


class MessageList(list[Any]):
    """A message list some rule changed. `origins[i]` is the position, in the list
    the host gave, of the message now at `i`; None for a message a rule added. A
    message at an origin that is no longer the host's object is a replaced one (a
    `{role, text}` row carrying its new text)."""

    __slots__ = ("origins",)

    def __init__(self, items: Sequence[Any], origins: Sequence[int | None]) -> None:
        super().__init__(items)
        self.origins: tuple[int | None, ...] = tuple(origins)


def origins_of(messages: Sequence[Any]) -> tuple[int | None, ...]:
    """Where each message came from (the host's own list: itself, in order)."""
    if isinstance(messages, MessageList):
        return messages.origins
    return tuple(range(len(messages)))


def role_and_text(message: object) -> tuple[str | None, str | None]:
    """A message's role (an enum's value) and text: a `{role, text}` row, a cpex or
    gateway message with `content` (a string or text parts), or any object with them."""
    if type(message) is dict and "content" not in message:  # a `{role, text}` row
        role, text = message.get("role"), message.get("text")
        if type(role) is str and (text is None or type(text) is str):
            return role, text
    elif isinstance(message, Mapping) and "content" not in message:
        role, text = message.get("role"), message.get("text")
    else:
        role, text = message_parts(message)
        if text is None and not isinstance(message, Mapping):
            inner = getattr(message, "text", None)  # an object holding its text directly
            text = inner if isinstance(inner, str) else None
    role = getattr(role, "value", role)
    return (role if isinstance(role, str) else None), (text if isinstance(text, str) else None)


def new_message(value: object, roles: Sequence[str]) -> dict[str, str]:
    """The `{role, text}` row a rule adds: from a map literal's `(role, text)` or a map.
    Checked here too (the checker cannot see a map a fact holds): the role must be one
    the host takes, and the text a string. Errors never show the values."""
    if isinstance(value, tuple) and len(value) == 2:
        role, text = value
    elif isinstance(value, Mapping):
        extra = sum(1 for k in value if k not in ("role", "text"))
        if extra:  # the keys are data too: counted, not shown
            raise RuleTypeError(f"a message has a role and a text only, not {extra} more keys")
        role, text = value.get("role"), value.get("text")
    else:
        raise RuleTypeError(f"a message is a map of role and text, got {type_name(value)}")
    if not isinstance(role, str) or role not in roles:
        raise RuleTypeError(f"a message's role must be one of {', '.join(roles)}")
    if not isinstance(text, str):
        raise RuleTypeError(f"a message's text must be a string, got {type_name(text)}")
    return {"role": role, "text": text}


def add_message(current: object, value: object, roles: Sequence[str], at_start: bool) -> Any:
    """`current` with the message added at its end (or start); `current` itself when
    an equal message (same role and text) is already there: context a rule adds on
    every step of an agent is in the conversation once, not once per step."""
    message = new_message(value, roles)
    items = _as_list(current)
    role, text = message["role"], message["text"]
    for m in reversed(items):  # most likely among the recent ones
        if type(m) is dict and "content" not in m:  # a `{role, text}` row
            if m.get("text") == text and m.get("role") == role:
                return current
        elif role_and_text(m) == (role, text):
            return current
    origins = origins_of(items)
    if at_start:
        return MessageList([message, *items], (None, *origins))
    return MessageList([*items, message], (*origins, None))


def replace_messages(
    current: object,
    patterns: Sequence[Any],
    value: object,
    max_chars: int,
    finder: Callable[[str], Sequence[Any]] | None = None,
) -> Any:
    """`current` with the text of every message a pattern matches (or a detector finds
    something in) set to `value`; the role stays (a replacement cannot make a message
    speak for someone else)."""
    if not isinstance(value, str):
        raise RuleTypeError(f"a message's text must be a string, got {type_name(value)}")
    items = _as_list(current)
    texts = [_text_of(m) for m in items]
    if finder is None and _none_can_match(texts, patterns, max_chars):
        return current
    out: list[Any] | None = None
    for i, text in enumerate(texts):
        if text is None or text == value:
            continue
        check_size(text, max_chars)
        if not (finder(text) if finder is not None else _any_match(text, patterns)):
            continue
        if out is None:
            out = list(items)
        out[i] = {"role": role_and_text(items[i])[0], "text": value}
    if out is None:
        return current
    return MessageList(out, origins_of(items))


# what can make a pattern's match depend on what is around a message: anchors, and the
# lookarounds of `re` (RE2 has none); with any of them, every message is searched alone
_CONTEXT_MARKS = ("^", "$", "\\A", "\\z", "\\Z", "(?<", "(?=", "(?!")


def _text_of(message: object) -> str | None:
    if type(message) is dict and "content" not in message:  # a `{role, text}` row
        text = message.get("text")
        return text if type(text) is str else None
    return role_and_text(message)[1]


def _none_can_match(texts: Sequence[str | None], patterns: Sequence[Any], max_chars: int) -> bool:
    """One search over many texts joined instead of one per message, when that is
    sound: a pattern with no anchor that matches inside one message matches the
    joined text too, so no match there means no message matches (a match across the
    join is checked message by message after). Each joined piece is held to the size
    cap one text is held to."""
    if not _joinable(tuple(p.pattern for p in patterns)):
        return False
    present = [t for t in texts if t is not None]
    joined = "\n".join(present)
    if len(joined) <= max_chars:  # the common case: one search
        return not _any_match(joined, patterns)
    piece: list[str] = []
    size = 0
    for text in present:
        if len(text) > max_chars:
            return False  # searched alone, it fails the cap
        if size + len(text) > max_chars:
            if _any_match("\n".join(piece), patterns):
                return False
            piece, size = [], 0
        piece.append(text)
        size += len(text) + 1
    return not _any_match("\n".join(piece), patterns)


@functools.lru_cache(maxsize=256)
def _joinable(patterns: tuple[str, ...]) -> bool:
    return not any(mark in p for p in patterns for mark in _CONTEXT_MARKS)


def _any_match(text: str, patterns: Sequence[Any]) -> bool:
    return any(p.search(text) for p in patterns)


def _as_list(current: object) -> Sequence[Any]:
    if current is None:
        return ()
    if isinstance(current, list | tuple):
        return current
    raise RuleTypeError(f"messages must be a list, got {type_name(current)}")
