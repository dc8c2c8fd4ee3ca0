"""The DSL's static types.

Types describe non-null values: every fact may be missing at run time (null), and
null is handled by the runtime semantics ("a comparison with null is false"), not by
the type system. `any` is for payload fields whose shape the catalog cannot know;
checks on `any` are deferred to run time, where a mismatch is an `error` verdict.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # any int float str bool null list map regex finding
    elem: Type | None = None  # element type of a list

    def __str__(self) -> str:
        if self.kind == "list" and self.elem is not None and self.elem.kind != "any":
            return f"list[{self.elem}]"
        return self.kind

    @property
    def is_any(self) -> bool:
        return self.kind == "any"

    @property
    def is_number(self) -> bool:
        return self.kind in ("int", "float")


ANY = Type("any")
INT = Type("int")
FLOAT = Type("float")
STR = Type("str")
BOOL = Type("bool")
NULL = Type("null")
MAP = Type("map")
REGEX = Type("regex")
LIST = Type("list", ANY)
# what `secrets()`/`pii()` return a list of (runtime/findings.py): compared as its
# entity type (a string), with typed fields
FINDING = Type("finding")
FINDING_FIELDS: dict[str, Type] = {
    "type": STR,
    "score": FLOAT,
    "start": INT,
    "end": INT,
    "text": STR,
}


def field_type(container: Type, key: object) -> Type | None:
    """The type of `x.key` on a value of type `container`: `any` where the checker
    cannot know, None where the field cannot exist (a finding's unknown field)."""
    if container.kind == "finding":
        return FINDING_FIELDS.get(key) if isinstance(key, str) else None
    if container.kind == "list" and isinstance(key, int):
        return container.elem or ANY
    return ANY


def list_of(elem: Type) -> Type:
    return Type("list", elem)


_BY_NAME = {
    "any": ANY,
    "int": INT,
    "float": FLOAT,
    "str": STR,
    "bool": BOOL,
    "null": NULL,
    "map": MAP,
    "regex": REGEX,
    "list": LIST,
    "finding": FINDING,
}


def parse_type(text: str) -> Type:
    """Parse the catalog's type notation: `int`, `list[str]`, `str|null` (nullable is dropped)."""
    text = text.strip()
    alternatives = [t.strip() for t in text.split("|") if t.strip() != "null"]
    if len(alternatives) != 1:
        return ANY if alternatives else NULL
    only = alternatives[0]
    if only.startswith("list[") and only.endswith("]"):
        return list_of(parse_type(only[5:-1]))
    try:
        return _BY_NAME[only]
    except KeyError:
        raise ValueError(f"unknown type {text!r}") from None


def comparable(a: Type, b: Type) -> bool:
    """Can `a == b` ever be true?"""
    if a.is_any or b.is_any or a.kind == "null" or b.kind == "null":
        return True
    if a.is_number and b.is_number:
        return True
    if a.kind == "list" and b.kind == "list":
        return comparable(a.elem or ANY, b.elem or ANY)
    if {a.kind, b.kind} == {"finding", "str"}:  # a finding is its entity type
        return True
    return a.kind == b.kind


def orderable(a: Type, b: Type) -> bool:
    """Is `a < b` defined?"""
    if a.is_any and (b.is_any or b.is_number or b.kind == "str"):
        return True
    if b.is_any and (a.is_number or a.kind == "str"):
        return True
    return (a.is_number and b.is_number) or (a.kind == b.kind == "str")


def join(a: Type, b: Type) -> Type:
    """The type of a value that is either a or b (list element inference)."""
    if a == b:
        return a
    if a.is_number and b.is_number:
        return FLOAT
    if a.kind == "null":
        return b
    if b.kind == "null":
        return a
    return ANY


def assignable(value: Type, target: Type) -> bool:
    if target.is_any or value.is_any or value.kind == "null":
        return True
    if target.kind == "float" and value.kind == "int":
        return True
    if target.kind == "list" and value.kind == "list":
        return assignable(value.elem or ANY, target.elem or ANY)
    return value.kind == target.kind
