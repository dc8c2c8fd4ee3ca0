"""The literal prefilter: one pass per fact finds the rules whose text test can hold.

A rule whose condition must begin with a text test against a constant (`prompt
contains "w1"`, `"w1" in prompt`, `startswith`, `endswith`, on the fact itself or on
`lower()`/`upper()`/`trim()`/`normalize()` of it; several of those joined by `or`)
carries them as its `literal_key` (compile/literals.py). When the fact holds exactly
a `str`, such a test cannot raise, and the rule can only fire if one of its tests
holds; so a call reads each tested fact once, applies the same function the rule
would, and finds every constant in it at once instead of calling each rule.

Exact, never a heuristic: the functions are the ones `runtime/ops.py` runs, and any
other value (null, a list, a host object, a `str` subclass such as a StrEnum), or a
function that raises, makes every rule on that fact a candidate. The substring search
for many constants is injected (`use_literal_finder`): RE2's set matcher, registered
by the compiler, since this package imports only the standard library; without it,
or for a few constants, each constant is tested with `in`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .ops import get
from .unicode import normalize_text

# one test: (fact path, functions applied innermost first, operator, constant)
LiteralTest = tuple[tuple[str | int, ...], tuple[str, ...], str, str]
# a rule's tests: it can only fire when one of them holds (or cannot be decided)
LiteralKey = tuple[LiteralTest, ...]
# constants -> (text -> positions of the constants it contains; None: could not tell)
Finder = Callable[[str], "Iterable[int] | None"]
FinderFactory = Callable[[Sequence[str]], Finder]

# the text functions a test may apply: exactly what ops.lower etc. do to a str
FUNCTIONS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "trim": str.strip,
    "normalize": normalize_text,
}
OPERATORS = frozenset({"contains", "startswith", "endswith"})
_FEW = 16  # up to this many constants, `in` per constant beats any set matcher's call
_factory: list[FinderFactory] = []


def use_literal_finder(factory: FinderFactory) -> None:
    """Install the many-constants substring finder (the compiler registers RE2's)."""
    _factory[:] = [factory]


def _scan(literals: Sequence[str]) -> Finder:
    def find(text: str) -> list[int]:
        return [i for i, lit in enumerate(literals) if lit in text]

    return find


class _Group:
    """The tests on one fact through one chain of functions."""

    def __init__(self, path: tuple[str | int, ...], functions: tuple[str, ...]) -> None:
        self.path = path
        self.functions = tuple(FUNCTIONS[name] for name in functions)
        self.rules: list[int] = []  # every rule with a test here (the fallback)
        self.literals: dict[str, list[int]] = {}  # contains: constant -> rules
        self.prefixes: dict[int, dict[str, list[int]]] = {}  # length -> constant -> rules
        self.suffixes: dict[int, dict[str, list[int]]] = {}
        self.constants: list[str] = []
        self.finder: Finder | None = None
        self.found: list[list[int]] = []  # the finder's positions -> rules

    def add(self, op: str, literal: str, rule: int) -> None:
        if not self.rules or self.rules[-1] != rule:
            self.rules.append(rule)
        if op == "contains":
            self.literals.setdefault(literal, []).append(rule)
        else:
            table = self.prefixes if op == "startswith" else self.suffixes
            table.setdefault(len(literal), {}).setdefault(literal, []).append(rule)

    def seal(self) -> None:
        self.constants = list(self.literals)
        self.found = [self.literals[c] for c in self.constants]
        if self.constants and (len(self.constants) <= _FEW or not _factory):
            self.finder = _scan(self.constants)

    def _build(self) -> Finder:
        """The many-constants finder, built on first use: a load (or a reload, or a
        cpex group that never sees a call) does not pay for it."""
        try:
            finder = _factory[0](self.constants)
        except Exception:  # too large for the matcher: test each constant
            finder = _scan(self.constants)
        self.finder = finder
        return finder

    def hits(self, facts: Mapping[str, Any], out: list[int]) -> None:
        """Add to `out` the rules whose tests here may hold."""
        value: Any = facts
        try:  # a host object whose read raises fails in the rule too: let it
            for key in self.path:
                value = value.get(key) if type(value) is dict else get(value, key)
        except Exception:
            out += self.rules
            return
        if value is None:
            return  # null: every positive test is false, and none raises
        if type(value) is not str:
            out += self.rules  # the rules decide (a StrEnum, a list, an error)
            return
        try:
            for fn in self.functions:
                value = fn(value)
            if self.constants:
                found = (self.finder or self._build())(value)
                if found is None:
                    out += self.rules
                    return
                for i in found:
                    out += self.found[i]
            for length, table in self.prefixes.items():
                rules = table.get(value[:length])
                if rules:
                    out += rules
            for length, table in self.suffixes.items():
                rules = table.get(value[-length:] if length else "")
                if rules:
                    out += rules
        except Exception:  # a function that failed fails in the rule too: let it
            out += self.rules


class Prefilter:
    """Every literal-keyed rule of a runner, grouped by the fact text they test."""

    def __init__(self, keys: Iterable[tuple[int, LiteralKey]]) -> None:
        groups: dict[tuple[tuple[str | int, ...], tuple[str, ...]], _Group] = {}
        self.positions: set[int] = set()
        for position, key in keys:
            self.positions.add(position)
            for path, functions, op, literal in key:
                group = groups.get((path, functions))
                if group is None:
                    group = groups[(path, functions)] = _Group(path, functions)
                group.add(op, literal, position)
        for group in groups.values():
            group.seal()
        self.groups = tuple(groups.values())

    def candidates(self, facts: Mapping[str, Any]) -> list[int]:
        """The literal-keyed rules that may fire on `facts` (unsorted, may repeat)."""
        out: list[int] = []
        for group in self.groups:
            group.hits(facts, out)
        return out


def valid(key: object) -> bool:
    """A key this runtime can use as is (one from a cache of another version is not)."""
    if not isinstance(key, tuple) or not key:
        return False
    for test in key:
        if not (isinstance(test, tuple) and len(test) == 4):
            return False
        path, functions, op, literal = test
        if not (isinstance(path, tuple) and path and isinstance(literal, str)):
            return False
        if op not in OPERATORS or any(f not in FUNCTIONS for f in functions):
            return False
    return True
