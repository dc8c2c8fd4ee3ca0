"""A compiled ruleset's data as JSON, and back: what the ruleset cache stores.

Only values of known types are written, each tagged (`{"t": [...]}` a tuple, `{"re2":
pattern}` a regex, `{"dc": "Block", "v": {...}}` one of the dataclasses a program holds,
...), and reading builds only those types: a damaged or planted entry can give wrong
data (which the owner check makes someone else's doing) but never an object of a type
we did not name (a detector's finder is written as its detector's name and entity
types, and built again by check/detectors.py). A value of any other type (a host
object) raises `Unencodable`, and the ruleset is simply not cached.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..check.detectors import finder_of
from ..check.regexes import cached_regex, is_regex
from ..runtime.breaker import BreakerConfig
from ..runtime.ops import FrozenMap
from ..runtime.program import Assign, Block, EditMessages, Redact
from ..runtime.state import StateSpec


class Unencodable(TypeError):
    """A value the cache has no safe form for."""


_DATACLASSES: dict[str, type] = {
    cls.__name__: cls for cls in (Block, Assign, Redact, EditMessages, BreakerConfig, StateSpec)
}


def encode(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) and value != 0.0 else {"f": repr(value)}
    if kind is tuple:
        return {"t": [encode(v) for v in value]}
    if kind is list:
        return {"l": [encode(v) for v in value]}
    if kind is frozenset:
        return {"fs": [encode(v) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"d": {k: encode(v) for k, v in value.items()}}
    if kind is FrozenMap:
        return {"fm": {k: encode(v) for k, v in value.items()}}
    if is_regex(value):
        return {"re2": value.pattern}
    spec = getattr(value, "spec", None) if callable(value) else None
    if spec is not None and finder_of(spec) is not None:  # a detector's finder
        return {"finder": [spec[0], list(spec[1])]}
    if _DATACLASSES.get(kind.__name__) is kind:
        fields = {
            f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
        return {"dc": kind.__name__, "v": fields}
    raise Unencodable(f"cannot cache a {kind.__name__}")


def _float(text: str) -> float:
    return float(text)  # "nan", "inf", "-inf", "-0.0", "0.0"


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "f": _float,
    "t": lambda items: tuple(decode(v) for v in items),
    "l": lambda items: [decode(v) for v in items],
    "fs": lambda items: frozenset(decode(v) for v in items),
    "d": lambda items: {k: decode(v) for k, v in items.items()},
    "fm": lambda items: FrozenMap({k: decode(v) for k, v in items.items()}),
    "re2": cached_regex,
    "finder": finder_of,
}


def decode(value: Any) -> Any:
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is dict:
        if len(value) == 1:
            tag, inner = next(iter(value.items()))
            decoder = _DECODERS.get(tag)
            if decoder is not None:
                return decoder(inner)
        if set(value) == {"dc", "v"} and value["dc"] in _DATACLASSES:
            fields: Mapping[str, Any] = value["v"]
            return _DATACLASSES[value["dc"]](**{k: decode(v) for k, v in fields.items()})
    raise ValueError(f"not a cached value: {value!r:.60}")


# A program's fields whose values have one known shape, read back without tags (most
# of a load from the cache is spent here); every other field's value is written once
# in a pool (a ruleset's rules mostly share their actions) and goes through `decode`.
_PLAIN = ("id", "index", "description", "file", "line", "column", "mode", "on_error",
          "priority", "digest", "shape")  # fmt: skip
_TUPLES = ("hooks", "records")
_SETS = ("reads", "states", "host_calls")
_SCALARS = (str, int, bool, type(None))


def encode_rows(rows: list[dict[str, Any]]) -> Any:
    """Dicts of one set of keys (a ruleset's programs) as a header and one list per row."""
    names = list(rows[0]) if rows else []
    pool: dict[str, int] = {}
    out = []
    for row in rows:
        if list(row) != names:
            raise Unencodable("rows with different fields")
        out.append([_cell(name, value, pool) for name, value in row.items()])
    return {"names": names, "rows": out, "pool": [json.loads(text) for text in pool]}


def _cell(name: str, value: Any, pool: dict[str, int]) -> Any:
    if name in _PLAIN and (value is None or type(value) in (str, int)):
        return value
    if name in _TUPLES and type(value) is tuple and _plain(value):
        return list(value)
    if name in _SETS and type(value) is frozenset and _plain(value):
        return sorted(value)
    if name == "literals" and type(value) is tuple:
        return [v if type(v) in _SCALARS else {"x": encode(v)} for v in value]
    if name == "actions" and all(type(a) is Block and not a.template for a in value):
        return [[a.kind, a.reason, a.code, a.reason_index] for a in value]
    if name == "index_key" and value is not None:
        path, keys = value
        if _plain(path) and _plain(keys):
            return [list(path), sorted(keys, key=repr)]
    text = json.dumps(encode(value), sort_keys=True)
    return {"p": pool.setdefault(text, len(pool))}


def _plain(values: tuple[Any, ...] | frozenset[Any]) -> bool:
    return all(type(v) in (str, int) for v in values)


def decode_rows(data: Any) -> list[dict[str, Any]]:
    names: list[str] = data["names"]
    pool = [decode(value) for value in data["pool"]]
    out = []
    for values in data["rows"]:
        row: dict[str, Any] = {}
        for name, value in zip(names, values, strict=True):
            if type(value) is dict:
                row[name] = pool[value["p"]]
            elif name in _TUPLES:
                row[name] = tuple(value)
            elif name in _SETS:
                row[name] = frozenset(value)
            elif name == "literals":
                row[name] = tuple(v if type(v) is not dict else decode(v["x"]) for v in value)
            elif name == "actions":
                row[name] = tuple(Block(k, r, c, (), i) for k, r, c, i in value)
            elif name == "index_key":
                row[name] = (tuple(value[0]), frozenset(value[1]))
            elif name in _PLAIN and (value is None or type(value) in (str, int)):
                row[name] = value
            else:
                raise ValueError(f"not a cached {name}")
        out.append(row)
    return out
