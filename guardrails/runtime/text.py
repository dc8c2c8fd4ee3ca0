"""Any value as one searchable text, and redaction over exactly that text.

`text(x) matches P` and `redact x P` must agree: what a pattern finds is what gets
rewritten, or a verdict would claim a redaction that left the secret in place. So
both work on one rendering of the value:

- strings appear raw between double quotes (no JSON escaping: a tab in a tool
  argument is a tab, so `\\s` matches it), map keys included, sorted;
- `{"k": v, ...}`, `[a, b]`, numbers, `true`/`false`/`null` as in JSON;
- what hosts hand us besides plain data renders too, never raises: pydantic models
  and dataclasses as maps of their fields, sets sorted, bytes decoded (UTF-8, bad
  bytes replaced), exceptions as `Type: message`, anything else as its `str()`.

Every key and scalar is a leaf with its place in the text. Redaction finds the
matches in the whole text and rewrites each leaf a match overlaps (keys, strings
and numbers alike; punctuation is structure, never rewritten), so a secret spread
over a key and its value is gone from both. Rebuilt values keep their container
types where they can (a pydantic model is validated back into its class).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from .ops import (
    DEFAULT_MAX_MATCH_CHARS,
    Regex,
    RuleLimitError,
    RuleTypeError,
    check_size,
    type_name,
)

MAX_DEPTH = 100
_SCALARS = (int, float, bool)


def text(value: object, limit: int = DEFAULT_MAX_MATCH_CHARS) -> str | None:
    """The searchable text of a value (a string is itself; null is null)."""
    if value is None or isinstance(value, str):
        return value
    return Rendering(value, limit).text


class Rendering:
    """The text of a value plus, per leaf, its span in that text (in walk order).

    Rendering stops as soon as the text passes `limit` characters (a rule error): a
    value whose parts are shared (`x = [x, x]`, twenty times over) is small in memory
    but its text doubles with every level, and must not be written out to find that.
    """

    def __init__(self, value: object, limit: int = DEFAULT_MAX_MATCH_CHARS) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit
        self.spans: list[tuple[int, int]] = []
        self._walk(value, 0, set())
        self.text = "".join(self._parts)

    def _emit(self, piece: str) -> None:
        self._parts.append(piece)
        self._size += len(piece)
        if self._size > self._limit:
            raise RuleLimitError(
                f"text of the value is over the {self._limit}-character limit for matching"
            )

    def _leaf(self, piece: str, quoted: bool) -> None:
        if quoted:
            self._emit('"')
        self.spans.append((self._size, self._size + len(piece)))
        self._emit(piece)
        if quoted:
            self._emit('"')

    def _walk(self, value: object, depth: int, active: set[int]) -> None:
        if depth > MAX_DEPTH:
            raise RuleTypeError(f"value is nested more than {MAX_DEPTH} levels deep")
        kind, inner = classify(value)
        if kind == "scalar":
            self._leaf(inner, quoted=not (value is None or isinstance(value, _SCALARS)))
            return
        if id(value) in active:
            raise RuleTypeError("value contains itself")
        active.add(id(value))
        if kind == "map":
            self._emit("{")
            for i, (key, item) in enumerate(sorted_items(inner)):
                if i:
                    self._emit(", ")
                self._leaf(key, quoted=True)
                self._emit(": ")
                self._walk(item, depth + 1, active)
            self._emit("}")
        else:
            self._emit("[")
            for i, item in enumerate(inner):
                if i:
                    self._emit(", ")
                self._walk(item, depth + 1, active)
            self._emit("]")
        active.discard(id(value))


def classify(value: object) -> tuple[str, Any]:
    """("scalar", its text) | ("map", a Mapping) | ("list", a sequence)."""
    if isinstance(value, str):
        return "scalar", value
    if value is None:
        return "scalar", "null"
    if isinstance(value, bool):
        return "scalar", "true" if value else "false"
    if isinstance(value, int | float):
        return "scalar", repr(value) if isinstance(value, float) else str(int(value))
    if isinstance(value, Mapping):
        return "map", value
    if isinstance(value, list | tuple):
        return "list", value
    if isinstance(value, set | frozenset):
        return "list", sorted(value, key=_sort_text)
    if isinstance(value, bytes | bytearray):
        return "scalar", bytes(value).decode("utf-8", errors="replace")
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return "map", dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "map", {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, BaseException):
        message = _safe_str(value)
        name = type(value).__name__
        return "scalar", f"{name}: {message}" if message else name
    return "scalar", _safe_str(value) or type(value).__name__


def sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    return sorted(((_key_text(k), v) for k, v in mapping.items()), key=lambda kv: kv[0])


def _key_text(key: object) -> str:
    if isinstance(key, str):
        return key
    kind, inner = classify(key)
    return str(inner) if kind == "scalar" else repr(key)


def _sort_text(value: object) -> str:
    try:
        return Rendering(value).text
    except RuleTypeError:
        return type(value).__name__


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return ""


# ---- the text of a conversation ----


def content_text(content: object) -> str | None:
    """The text of one message's content, whatever its shape: a string; a list of
    parts (`{"type": "text", "text": ...}` dicts, cpex `TextContent`, OpenAI's
    multimodal parts); one such part; or other data, rendered with `text()` so that
    nothing a host sends is invisible to the rules."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list | tuple):
        parts = [content_text(part) for part in content]
        return "\n".join(p for p in parts if p)
    if isinstance(content, Mapping):
        inner = content.get("text", content.get("content"))
        return content_text(inner) if inner is not None else Rendering(content).text
    inner = getattr(content, "text", None)
    if isinstance(inner, str):
        return inner
    return text(content)


def message_parts(message: object) -> tuple[object, str | None]:
    """(role, text) of a chat message given as a dict or an object."""
    if isinstance(message, Mapping):
        return message.get("role"), content_text(message.get("content"))
    if isinstance(message, str):
        return None, message
    role = getattr(message, "role", None)
    role = getattr(role, "value", role)
    return role, content_text(getattr(message, "content", message))


def text_of(value: object) -> str | None:
    """Text of a prompt: a string, or the contents of a list of chat messages."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        texts = (message_parts(item)[1] for item in value)
        return "\n".join(t for t in texts if t is not None)
    if isinstance(value, Mapping):  # one message
        return message_parts(value)[1]
    raise RuleTypeError(f"expected text or chat messages, got {type_name(value)}")


# ---- redaction ----


# (start, end, label): a span to rewrite and what found it (a detector's entity type,
# "" for a pattern); (label, matched text) -> its replacement
Found = tuple[int, int, str]
Rewrite = Callable[[str, str], str]


def redact(
    value: Any,
    find: Callable[[str], list[Found]],
    rewrite: Rewrite,
    max_chars: int = 1_000_000,
) -> Any:
    """`value` with every span `find` reports in its text rewritten; the same object
    when nothing was found (so the engine can tell that nothing changed)."""
    if value is None:
        return None
    if isinstance(value, str):
        check_size(value, max_chars)
        return replace_spans(value, find(value), rewrite)
    rendering = Rendering(value, max_chars)
    matches = find(rendering.text)
    if not matches:
        return value
    new_leaves: dict[int, str] = {}
    for index, (start, end) in enumerate(rendering.spans):
        inside = [
            (max(s, start) - start, min(e, end) - start, label)
            for s, e, label in matches
            if s < end and e > start
        ]
        if inside:
            new_leaves[index] = replace_spans(rendering.text[start:end], inside, rewrite)
    return _Rebuild(new_leaves).walk(value)


def merged_spans(text: str, patterns: tuple[Regex, ...]) -> list[Found]:
    """Every non-empty match of every pattern on the original text, overlaps merged:
    applied one after another, a later pattern could match inside an earlier
    replacement (`[REDACTED]` itself looks like a `key=...` value)."""
    spans = sorted(m.span() for p in patterns for m in p.finditer(text) if m.end() > m.start())
    return merge([(s, e, "") for s, e in spans])


def merge(spans: list[Found]) -> list[Found]:
    """Sorted, overlapping or touching spans merged into one (labelled by the first):
    each character is rewritten once, whatever found it."""
    merged: list[Found] = []
    for start, end, label in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end), merged[-1][2])
        else:
            merged.append((start, end, label))
    return merged


def replace_spans(text: str, spans: list[Found], rewrite: Rewrite) -> str:
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end, label in spans:
        out += (text[pos:start], rewrite(label, text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


class _Rebuild:
    """Walks a value in `Rendering`'s order, putting the rewritten leaves back."""

    def __init__(self, new_leaves: dict[int, str]) -> None:
        self.new = new_leaves
        self.leaf = 0

    def _next(self) -> str | None:
        index = self.leaf
        self.leaf += 1
        return self.new.get(index)

    def walk(self, value: Any) -> Any:
        kind, inner = classify(value)
        if kind == "scalar":
            replaced = self._next()
            return value if replaced is None else replaced
        if kind == "list":
            items = [self.walk(item) for item in inner]
            if isinstance(value, set | frozenset):
                return type(value)(items) if all(map(_hashable, items)) else items
            return items
        rebuilt: dict[str, Any] = {}
        changed = False
        for key, item in sorted_items(inner):
            new_key = self._next()
            new_item = self.walk(item)
            changed = changed or new_key is not None or new_item is not item
            rebuilt[_unique(new_key if new_key is not None else key, rebuilt)] = new_item
        if not changed:
            return value
        return _restore(value, inner, rebuilt)


def _unique(key: str, taken: Mapping[str, Any]) -> str:
    """Two keys redacted to the same text must not overwrite each other."""
    if key not in taken:
        return key
    n = 2
    while f"{key} #{n}" in taken:
        n += 1
    return f"{key} #{n}"


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _restore(original: Any, inner: Mapping[Any, Any], rebuilt: dict[str, Any]) -> Any:
    """A rebuilt map in the original's shape where it can be: key order kept, and a
    pydantic model or dataclass rebuilt as its own class when the new fields fit."""
    if all(isinstance(k, str) for k in inner) and rebuilt.keys() == set(inner):
        rebuilt = {k: rebuilt[k] for k in inner}
    if isinstance(original, Mapping):
        return rebuilt
    validate = getattr(type(original), "model_validate", None)
    if callable(validate):
        try:
            return validate(rebuilt)
        except Exception:
            return rebuilt
    if dataclasses.is_dataclass(original) and not isinstance(original, type):
        try:
            return dataclasses.replace(original, **rebuilt)
        except Exception:
            return rebuilt
    return rebuilt
