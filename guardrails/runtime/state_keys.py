"""A state's key and a streak's value as stable text: canonical JSON, the same in
every process and on every replica (a Redis store's keys are built from it), and a
hash for long keys or any value."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_KEY_TEXT = 160  # longer keys are stored by their hash

_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=repr).encode
_quote = json.encoder.encode_basestring_ascii  # what the encoder writes for a str


def _text(value: Any) -> str:
    """`value` as canonical JSON. Keys are mostly ids (strings, integers), which are
    written here directly, character for character as the encoder would, skipping
    its per-call setup; anything else goes to the encoder."""
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
                return _json(value)
        return "[" + ",".join(parts) + "]"
    if kind is str:
        return _quote(value)
    return _json(value)


def encode_key(values: tuple[Any, ...]) -> str:
    text = _text(values)
    if len(text) > MAX_KEY_TEXT:
        return "#" + hashlib.sha256(text.encode()).hexdigest()[:32]
    return text


def value_digest(value: Any) -> str:
    return hashlib.sha256(_text(value).encode()).hexdigest()[:24]
