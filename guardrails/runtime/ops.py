"""The DSL's run-time semantics, called by generated code.

Decided here, not inherited from Python:
- null (a missing fact) makes every positive test false: `null < 3`, `null == 3`,
  `null in [...]`, `null contains "x"` are all false. The negated tests are exactly
  their negations, so `null != 3` and `null not in [...]` are true: an allow-list
  (`model not in approved`) fails closed when the fact is missing. `x == null` /
  `x != null` (compiled to `is_null` / `not_null`) and `exists(x)` test for null.
- NaN and infinite numbers are type errors wherever a number is used (fail closed):
  NaN would make every comparison false, and a cap on `temperature` would never fire.
- booleans are not numbers: `true == 1` is false and `true < 2` is a type error.
- numbers compare with numbers, strings with strings; ordering other mixes is a type
  error, which the engine turns into an `error` verdict (never an escaping exception).
- arithmetic on null gives null; division by zero is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from .fields import field_of
from .unicode import basename_text, normalize_text


class RuleTypeError(Exception):
    """A value of the wrong type reached an operator at run time.

    `from_input`: the call's own payload caused it (a string where a number was
    expected, a text over the cap). Such a failure says nothing about the rule's
    dependencies, so it never counts against a circuit breaker: otherwise one caller's
    malformed calls would open the breaker for everyone (runtime/breaker.py)."""

    from_input = True


class RuleLimitError(RuleTypeError):
    """A value went over a configured limit (the text size cap for regex matching)."""


class Regex(Protocol):
    """A compiled pattern: RE2's in production (see check/regexes.py), `re`'s in a pinch."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> object | None: ...

    def finditer(self, text: str) -> Iterator[Any]: ...


DEFAULT_MAX_MATCH_CHARS = 1_000_000


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    return type(value).__name__


def _is_number(value: object) -> bool:
    """A number rules may use; NaN and infinities raise (see the module docstring)."""
    if isinstance(value, float):
        if value - value != 0.0:  # NaN or an infinity, without a call
            raise RuleTypeError(f"{value!r} is not a usable number")
        return True
    return isinstance(value, int) and not isinstance(value, bool)


def get(value: object, key: str | int) -> object:
    """Null-safe one-step access: a missing key, a wrong container or null give null."""
    if type(value) is dict:  # the common case, without the ABC check
        return value.get(key)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(key, int) and isinstance(value, list | tuple) and -len(value) <= key < len(value):
        return value[key]
    return field_of(value, key)  # a finding's, a host object's field (runtime/fields.py)


def get_path(value: object, keys: Sequence[str | int]) -> object:
    for key in keys:
        if value is None:
            return None
        value = get(value, key)
    return value


# ---- comparison ----


def eq(a: object, b: object) -> bool:
    if type(a) is str and type(b) is str:
        return a == b
    if a is None or b is None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    numbers = _is_number(a), _is_number(b)  # both checked: NaN raises on either side
    if all(numbers):
        return a == b
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, list | tuple):  # a list literal is a tuple: [1] equals a fact's [1]
        return _same_items(a, b)  # type: ignore[arg-type]
    try:
        return bool(a == b)
    except Exception:  # a host object with a broken __eq__ is not equal to anything
        return False


def _same_items(a: Sequence[object], b: Sequence[object]) -> bool:
    """Lists are equal item by item under `eq`, except that null items match each
    other (`[null] == [null]`: the lists are the same, nothing is missing)."""
    if len(a) != len(b):
        return False
    return all((x is None and y is None) or eq(x, y) for x, y in zip(a, b, strict=True))


def ne(a: object, b: object) -> bool:
    return not eq(a, b)


def _ordered(a: object, b: object, op: str) -> bool:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return _is_number(a) and _is_number(b)
    if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
        return True
    raise RuleTypeError(f"cannot compare {type_name(a)} {op} {type_name(b)}")


def lt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and _ordered(a, b, "<") and bool(a < b)


def le(a: Any, b: Any) -> bool:
    return a is not None and b is not None and _ordered(a, b, "<=") and bool(a <= b)


def gt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and _ordered(a, b, ">") and bool(a > b)


def ge(a: Any, b: Any) -> bool:
    return a is not None and b is not None and _ordered(a, b, ">=") and bool(a >= b)


def is_null(a: object) -> bool:
    return a is None


def not_null(a: object) -> bool:
    return a is not None


def truth(a: object) -> bool:
    """A fact used as a condition: null is false, a bool is itself, anything else errors."""
    if a is None:
        return False
    if isinstance(a, bool):
        return a
    raise RuleTypeError(f"expected a boolean condition, got {type_name(a)}")


# ---- membership and text ----


def in_(item: object, container: object) -> bool:
    if item is None or container is None:
        return False
    if isinstance(container, str):
        if not isinstance(item, str):
            raise RuleTypeError(f"cannot test {type_name(item)} in str")
        return item in container
    if isinstance(container, list | tuple):
        return any(eq(item, x) for x in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    raise RuleTypeError(f"cannot test membership in {type_name(container)}")


def not_in(item: object, container: object) -> bool:
    return not in_(item, container)


def contains(container: object, item: object) -> bool:
    return in_(item, container)


def _text_pair(a: object, b: object, op: str) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        return True
    raise RuleTypeError(f"{op} needs two strings, got {type_name(a)} and {type_name(b)}")


def startswith(a: Any, b: Any) -> bool:
    if type(a) is str and type(b) is str:
        return a.startswith(b)
    return _text_pair(a, b, "startswith") and bool(a.startswith(b))


def endswith(a: Any, b: Any) -> bool:
    if type(a) is str and type(b) is str:
        return a.endswith(b)
    return _text_pair(a, b, "endswith") and bool(a.endswith(b))


def check_size(text: str, limit: int) -> None:
    if len(text) > limit:
        raise RuleLimitError(
            f"text of {len(text)} characters is over the {limit}-character limit for matching"
        )


def matches(
    text: object, patterns: tuple[Regex, ...], limit: int = DEFAULT_MAX_MATCH_CHARS
) -> bool:
    if text is None:
        return False
    if not isinstance(text, str):
        raise RuleTypeError(f"matches needs a string, got {type_name(text)}")
    check_size(text, limit)
    return any(p.search(text) is not None for p in patterns)


# ---- arithmetic ----


def _arith(a: Any, b: Any, op: str) -> bool:
    if a is None or b is None:
        return False
    if _is_number(a) and _is_number(b):
        return True
    if op == "+" and type_name(a) == type_name(b) and isinstance(a, str | list | tuple):
        return True
    raise RuleTypeError(f"unsupported operand types for {op}: {type_name(a)} and {type_name(b)}")


def add(a: Any, b: Any) -> Any:
    if not _arith(a, b, "+"):
        return None
    if isinstance(a, tuple | list):
        return [*a, *b]
    return a + b


def sub(a: Any, b: Any) -> Any:
    return a - b if _arith(a, b, "-") else None


def mul(a: Any, b: Any) -> Any:
    return a * b if _arith(a, b, "*") else None


def div(a: Any, b: Any) -> Any:
    if not _arith(a, b, "/"):
        return None
    if b == 0:
        raise RuleTypeError("division by zero")
    return a / b


def neg(a: Any) -> Any:
    if a is None:
        return None
    if not _is_number(a):
        raise RuleTypeError(f"cannot negate {type_name(a)}")
    return -a


# ---- built-in functions ----


def len_(a: object) -> int | None:
    if a is None:
        return None
    if isinstance(a, str | list | tuple | Mapping):
        return len(a)
    raise RuleTypeError(f"len() needs a string, list or map, got {type_name(a)}")


def _text_fn(name: str, fn: Callable[[str], str]) -> Callable[[object], str | None]:
    def op(a: object) -> str | None:
        if a is None:
            return None
        if not isinstance(a, str):
            raise RuleTypeError(f"{name}() needs a string, got {type_name(a)}")
        return fn(a)

    op.__name__ = name
    return op


lower = _text_fn("lower", str.lower)
normalize = _text_fn("normalize", normalize_text)
basename = _text_fn("basename", basename_text)
upper = _text_fn("upper", str.upper)
trim = _text_fn("trim", str.strip)


def _numbers(name: str, args: tuple[object, ...]) -> list[Any] | None:
    values: Sequence[object] = args
    if len(args) == 1:
        if args[0] is None:
            return None
        if not isinstance(args[0], list | tuple):
            raise RuleTypeError(f"{name}() of one argument needs a list, got {type_name(args[0])}")
        values = args[0]
    if not values or any(v is None for v in values):
        return None
    for v in values:
        if not _is_number(v):
            raise RuleTypeError(f"{name}() needs numbers, got {type_name(v)}")
    return list(values)


def min_(*args: object) -> Any:
    values = _numbers("min", args)
    return None if values is None else min(values)


def max_(*args: object) -> Any:
    values = _numbers("max", args)
    return None if values is None else max(values)


def abs_(a: Any) -> Any:
    if a is None:
        return None
    if not _is_number(a):
        raise RuleTypeError(f"abs() needs a number, got {type_name(a)}")
    return abs(a)


def estimate_tokens(text: str) -> int:
    """Mellea's own estimate: a token is about four characters."""
    return math.ceil(len(text) / 4)


class FrozenMap(Mapping[str, Any]):
    """A map literal's value (`let prices = {...}`): read-only and hashable, like the
    tuples list literals become, so constants can be compared and deduplicated."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted(self._items.items(), key=lambda kv: kv[0])))
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


def lookup(mapping: object, key: object, default: object = None) -> object:
    """`lookup(prices, model, 0.01)`: a map's value for `key`, or `default` when the
    key is missing or its value is null (a null map, a missing fact, has no keys)."""
    if mapping is None:
        return default
    if not isinstance(mapping, Mapping):
        raise RuleTypeError(f"lookup() needs a map, got {type_name(mapping)}")
    value = mapping.get(key) if isinstance(key, str | int) else None
    return default if value is None else value
