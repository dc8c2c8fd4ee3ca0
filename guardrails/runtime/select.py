"""Which rules of a runner can fire on a call's facts: the equality index and the
literal prefilter, both exact (a rule left out could only have passed).

A rule whose leftmost condition is `fact == key` / `fact in [keys]` is indexed by its
keys (`RuleProgram.index_key`); one whose condition needs a text test against a
constant is found by the prefilter (`RuleProgram.literal_key`, runtime/prefilter.py);
every other rule is always a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from .ops import get
from .prefilter import Prefilter, valid
from .program import RuleProgram

_INDEXABLE = (str, int, float)


class Selector:
    def __init__(self, programs: Sequence[RuleProgram]) -> None:
        self.size = len(programs)
        self.always: list[int] = []
        self.index: dict[tuple[str | int, ...], dict[str | int, list[int]]] = {}
        literal: list[tuple[int, Any]] = []
        for i, prog in enumerate(programs):
            if prog.index_key is not None:
                path, keys = prog.index_key
                table = self.index.setdefault(path, {})
                for key in keys:
                    table.setdefault(key, []).append(i)
            elif valid(prog.literal_key):
                literal.append((i, prog.literal_key))
            else:
                self.always.append(i)
        self.prefilter = Prefilter(literal) if literal else None
        self.paths = tuple(self.index.items())
        self.selective = bool(self.index) or self.prefilter is not None
        self.indexed = self.size - len(self.always)

    def candidates(self, facts: Mapping[str, Any]) -> list[int]:
        """Positions of the rules that can fire on `facts`, in evaluation order."""
        if not self.selective:
            return list(range(self.size))
        found: list[int] | None = None
        merged = False  # `found` joins several lists: sort it
        for path, table in self.paths:
            value: Any = facts
            try:
                for key in path:
                    value = value.get(key) if type(value) is dict else get(value, key)
            except Exception:  # a host object whose read raises: let the rules fail
                return list(range(self.size))
            kind = type(value)
            if kind is str or kind is int or (kind is float and value - value == 0.0):
                hits = table.get(cast("str | int", value))
                if hits:
                    merged = found is not None
                    found = found + hits if found is not None else hits
            elif kind is float:
                return list(range(self.size))  # NaN/inf: let the rules error
            elif kind is not bool and isinstance(value, _INDEXABLE):
                # a StrEnum, an IntEnum, a numpy float: equal to a key it may not
                # hash like, so the index cannot rule anything out
                return list(range(self.size))
        if self.prefilter is not None:
            more = self.prefilter.candidates(facts)
            if more:  # unsorted, may repeat
                found, merged = (found + more if found is not None else more), True
        if self.always:
            if found is None:
                return self.always
            found, merged = found + self.always, True
        if found is None:
            return []
        return sorted(set(found)) if merged else found
