"""A state's key and a streak's value as stable text: canonical JSON, the same in
every process and on every replica (a Redis store's keys are built from it), and a
hash for long keys or any value."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .ops import RuleTypeError, type_name

MAX_KEY_TEXT = 160  # longer keys are stored by their hash

_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False).encode
_quote = json.encoder.encode_basestring_ascii  # what the encoder writes for a str


def canonical(value: Any) -> str:
    """One text per value, whatever spelling the host used: keys sorted, `1.0` as `1`,
    tuples as lists. A value with no stable text (an object whose repr holds its
    address would give every call a fresh key, and so a fresh budget) is an error: the
    rules touching the state fail closed. Keys are mostly ids (strings, integers),
    written here directly, character for character as the encoder would, skipping its
    per-call setup."""
    kind = type(value)
    if kind is tuple or kind is list:
        parts = []
        for item in value:
            t = type(item)
            if t is str:
                parts.append(_quote(item))
            elif t is int:
                parts.append(int.__repr__(item))
            else:
                return _json(_plain(value))
        return "[" + ",".join(parts) + "]"
    if kind is str:
        return _quote(value)
    return _json(_plain(value))


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {_key_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):  # a subclass, such as a str enum: its text, not its name
        return str.__str__(value)
    if isinstance(value, int | float):
        return _plain(float(value) if isinstance(value, float) else int(value))
    raise RuleTypeError(f"a state key or value cannot be a {type_name(value)}")


def _key_text(key: Any) -> str:
    """A map key as JSON has it: text as itself, anything else as its canonical text
    (`1.0` as `1`, `True` as `true`); an object with no stable text is an error."""
    if isinstance(key, str):
        return str.__str__(key)
    return canonical(key)


def encode_key(values: tuple[Any, ...]) -> str:
    text = canonical(values)
    if len(text) > MAX_KEY_TEXT:
        return "#" + hashlib.sha256(text.encode()).hexdigest()[:32]
    return text


def value_digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:24]
