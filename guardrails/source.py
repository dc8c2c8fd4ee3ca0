"""Source text and positions, shared by every stage.

Columns are computed here and nowhere else, so that every diagnostic agrees on them:
lines and columns are 1-based and count characters (not bytes), a tab is one column,
and a CRLF file numbers its lines like an LF file.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True, eq=False)
class SourceFile:
    """One rules text with its display path; identity-compared so spans stay cheap."""

    path: str
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        find, at = self.text.find, self.text.find("\n")
        while at >= 0:
            starts.append(at + 1)
            at = find("\n", at + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    @classmethod
    def read(cls, path: Path, display: str | None = None) -> SourceFile:
        """Read a file as UTF-8 (BOM tolerated); raises OSError/UnicodeDecodeError."""
        text = path.read_bytes().decode("utf-8-sig")
        return cls(display if display is not None else str(path), text)

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    def line_col(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its line ending."""
        if not 1 <= line <= len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        text = self.text[start:] if end < 0 else self.text[start:end]
        return text.removesuffix("\r")

    def span(self, start: int, end: int) -> Span:
        return Span(self, start, max(start, end))


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range [start, end) of one source file."""

    file: SourceFile = field(compare=False)
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.file.line_col(self.start)[0]

    @property
    def column(self) -> int:
        return self.file.line_col(self.start)[1]

    @property
    def end_line(self) -> int:
        return self.file.line_col(self.end)[0]

    @property
    def end_column(self) -> int:
        return self.file.line_col(self.end)[1]

    @property
    def location(self) -> str:
        """`path:line:col`, the form editors and terminals turn into links."""
        line, col = self.file.line_col(self.start)
        return f"{self.file.path}:{line}:{col}"

    def to(self, other: Span) -> Span:
        """The span covering self through other (same file)."""
        return Span(self.file, min(self.start, other.start), max(self.end, other.end))

    def text(self) -> str:
        return self.file.text[self.start : self.end]
