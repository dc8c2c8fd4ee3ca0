"""A field of a host object, read the way `text()` renders it.

Hosts hand rules their own objects, not only dicts: the gateway's agent payloads
carry each message as a pydantic `StructuredData` (cpex coerces the JSON dicts), a
tool result is a pydantic model, Mellea's tool call a dataclass. `text(m)` renders
those as maps of their fields, so `m.role` must read the same field: were it null,
`any m in messages: m.role == "user" and ...` would never fire on the real gateway
while it fires on the same messages given as dicts. Only declared fields (and a
pydantic model's extra fields) are read, never other attributes or properties, so a
rule cannot reach into an object beyond what it renders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .findings import Finding


def field_of(value: object, key: str | int) -> object:
    """`value.key` for a finding, a pydantic model or a dataclass instance; else null."""
    if not isinstance(key, str) or isinstance(value, type):
        return None
    if isinstance(value, Finding):
        return value.field(key)
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, Mapping) and callable(getattr(value, "model_dump", None)):
        if key in fields:
            return getattr(value, key, None)
        extra = getattr(value, "__pydantic_extra__", None)
        return extra.get(key) if isinstance(extra, dict) else None
    if dataclasses.is_dataclass(value) and any(f.name == key for f in dataclasses.fields(value)):
        return getattr(value, key, None)
    return None


def fields_map(value: object) -> dict[str, object] | None:
    """Every field `field_of` would read, by name (for `values()`/`keys()`), or None
    when `value` is not a pydantic model or a dataclass instance."""
    if isinstance(value, type | Finding):
        return None
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, Mapping) and callable(getattr(value, "model_dump", None)):
        out = {name: getattr(value, name, None) for name in fields}
        extra = getattr(value, "__pydantic_extra__", None)
        if isinstance(extra, dict):
            out.update(extra)
        return out
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
    return None
