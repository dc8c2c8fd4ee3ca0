"""What a detector (`secrets()`, `pii()`) returns: one `Finding` per thing it found.

A finding is its entity type as a string (`"US_SSN"`), so `pii(x) contains "US_SSN"`
and `f == "EMAIL_ADDRESS"` need no new operator: the runtime compares it as the text
it is, and records show it as that text. Its other fields (`score`, `start`, `end`,
`text`) are read with `f.score` through `ops.get`, like a map's keys. It lives in the
runtime because generated code reads it; the detectors that make findings are an edge
package (`guardrails/detectors/`), since they import third-party libraries.
"""

from __future__ import annotations

from typing import Any

FIELDS = ("type", "score", "start", "end", "text")


class Finding(str):
    """An immutable finding: the string is the entity type."""

    score: float
    start: int
    end: int
    text: str

    def __new__(cls, type_: str, score: float, start: int, end: int, text: str) -> Finding:
        self = super().__new__(cls, type_)
        object.__setattr__(self, "score", float(score))
        object.__setattr__(self, "start", int(start))
        object.__setattr__(self, "end", int(end))
        object.__setattr__(self, "text", text)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a finding is immutable")

    @property
    def type(self) -> str:
        return str.__str__(self)

    def field(self, name: str) -> object:
        """A field by name (`ops.get`); an unknown one is null, as for a map."""
        return getattr(self, name) if name in FIELDS else None

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in FIELDS}

    def __repr__(self) -> str:
        return f"Finding({self.type!r}, score={self.score}, span={self.start}:{self.end})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Finding, (self.type, self.score, self.start, self.end, self.text))
