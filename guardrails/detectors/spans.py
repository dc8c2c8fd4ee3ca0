"""Spans from libraries, made safe to cut text with.

Rust libraries report UTF-8 byte offsets; Python slices by code point. Every span a
pack returns goes through here, and one that does not hold the text the library said
it found raises (an `error` verdict): a redaction at a wrong offset would cut the
wrong characters and leave the secret in place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..check.detectors import Scanner
from ..runtime.findings import Finding


def char_offsets(text: str, byte_offsets: Iterable[int]) -> dict[int, int]:
    """Byte offset -> code point offset, for the given offsets only."""
    if text.isascii():
        return {b: b for b in byte_offsets}
    encoded = text.encode("utf-8")
    out: dict[int, int] = {}
    byte, char = 0, 0
    for b in sorted(set(byte_offsets)):  # one pass over the text, however many spans
        char += len(encoded[byte:b].decode("utf-8"))
        byte = b
        out[b] = char
    return out


def finding(text: str, type_: str, score: float, start: int, end: int) -> Finding:
    if not 0 <= start < end <= len(text):
        raise ValueError(f"detector span {start}:{end} is outside a text of {len(text)}")
    return Finding(type_, score, start, end, text[start:end])


def ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """By position, then type: the same text always gives the same list."""
    return tuple(sorted(findings, key=lambda f: (f.start, f.end, f.type)))


# characters that show as nothing (zero-width spaces and joiners, bidi controls, the
# soft hyphen, variation selectors, tag characters) or as a blank (Hangul fillers)
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0")
_TAGS = range(0xE0020, 0xE007F)


def seeing_through_invisibles(scan: Scanner) -> Scanner:
    """`scan` run on the text as it shows, its spans put back on the text as given.

    `AKIA\u200bQ3EG...` shows as an AWS key and a model reads it as one, but no
    library pattern matches it; `normalize()` would remove the character but also
    fold the case an AWS key is recognised by, and its offsets point into another text.
    Here invisible characters are dropped (tag characters read as the ASCII they
    mirror, blank-looking letters as spaces) and each finding is mapped back, so it
    spans the invisible characters inside it and a redaction cuts them out with it."""

    def run(text: str) -> tuple[Finding, ...] | float:
        if text.isascii() or _INVISIBLE.search(text) is None:
            return scan(text)
        shown: list[str] = []
        where: list[int] = []  # the given text's index of each character shown
        pos = 0
        for m in _INVISIBLE.finditer(text):
            i = m.start()
            shown.append(text[pos:i])
            where.extend(range(pos, i))
            code = ord(text[i])
            if code in _TAGS or text[i] in _BLANKS:
                shown.append(chr(code - 0xE0000) if code in _TAGS else " ")
                where.append(i)
            pos = i + 1
        shown.append(text[pos:])
        where.extend(range(pos, len(text)))
        found = scan("".join(shown))
        assert isinstance(found, tuple)  # a pack of findings, not a score
        return ordered(
            finding(text, f.type, f.score, where[f.start], where[f.end - 1] + 1) for f in found
        )

    return run
