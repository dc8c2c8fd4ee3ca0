"""`any`, `all`, `count`, `filter` over a list, as generated code calls them.

Generated code passes the list and the condition as a one-argument function (a
lambda over the element), so the condition stays compiled Python and a nested
quantifier is just a nested lambda. Null (a missing list) follows the house rule
that a missing fact makes a positive test false: `any` and `all` over null are
false, `count` and `filter` give null. `all` over an empty list is true, as in
logic: a rule that must see at least one element says `len(x) > 0 and all ...`.

A value that is not a list is a type error (an `error` verdict), never quietly
iterated: a string would give its characters and a map its keys. A list longer
than `MAX_ITEMS` is a limit error, so a hostile payload cannot make one condition
run unbounded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .fields import fields_map
from .ops import RuleLimitError, RuleTypeError, type_name

MAX_ITEMS = 100_000
# elements the quantifiers of one rule may visit: a nested quantifier visits
# its inner list once per outer element, so `any a in xs: count(b in xs: ...)` over
# 10,000 elements was 10^8 steps (half a minute; the time budget is only checked when
# a rule returns), and over MAX_ITEMS hours
MAX_VISITS = 1_000_000
VISITS = "#visits"  # its count, in the call's cache (never a fact or state slot name)

Test = Callable[[object], bool]


def each(items: object, kind: str, cache: dict[str, Any] | None = None) -> Sequence[object] | None:
    """The list to loop over; `cache` (the call's, from generated code, which zeroes
    the count as each rule starts) counts the elements the rule's quantifiers visit
    against MAX_VISITS, before any is visited."""
    if items is None:
        return None
    if type(items) is list or type(items) is tuple or isinstance(items, list | tuple):
        if len(items) > MAX_ITEMS:
            raise RuleLimitError(f"{kind} over {len(items)} elements (limit {MAX_ITEMS})")
        if cache is not None:
            visits = cache.get(VISITS, 0) + len(items)
            if visits > MAX_VISITS:
                raise RuleLimitError(
                    f"{kind}: the rule's quantifiers would visit over {MAX_VISITS} elements"
                )
            cache[VISITS] = visits
        return items
    raise RuleTypeError(f"{kind} needs a list, got {type_name(items)}")


# plain loops, not any()/all() over a generator: a generator adds a frame per
# element, and that was half the cost of a quantifier (benchmarks/bench_eval.py W9)


def any_of(items: object, test: Test) -> bool:
    values = each(items, "any")
    if values is None:
        return False
    for value in values:  # noqa: SIM110
        if test(value):
            return True
    return False


def all_of(items: object, test: Test) -> bool:
    values = each(items, "all")
    if values is None:
        return False
    for value in values:  # noqa: SIM110
        if not test(value):
            return False
    return True


def count_of(items: object, test: Test) -> int | None:
    values = each(items, "count")
    if values is None:
        return None
    n = 0
    for value in values:
        if test(value):
            n += 1
    return n


def filter_of(items: object, test: Test) -> tuple[object, ...] | None:
    values = each(items, "filter")
    if values is None:
        return None
    return tuple([value for value in values if test(value)])


BY_KIND: dict[str, Callable[[object, Test], object]] = {
    "any": any_of,
    "all": all_of,
    "count": count_of,
    "filter": filter_of,
}


# ---- a map's parts, so a quantifier can range over them ----


def values(mapping: object) -> tuple[object, ...] | None:
    """`values(tool.args)`: the map's values in its own order; null for null."""
    if mapping is None:
        return None
    if isinstance(mapping, Mapping):
        return tuple(mapping.values())
    fields = fields_map(mapping)  # a host's object: its fields, as `m.x` reads them
    if fields is not None:
        return tuple(fields.values())
    raise RuleTypeError(f"values() needs a map, got {type_name(mapping)}")


def keys(mapping: object) -> tuple[object, ...] | None:
    if mapping is None:
        return None
    if isinstance(mapping, Mapping):
        return tuple(mapping.keys())
    fields = fields_map(mapping)
    if fields is not None:
        return tuple(fields)
    raise RuleTypeError(f"keys() needs a map, got {type_name(mapping)}")
