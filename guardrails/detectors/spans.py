"""Spans from libraries, made safe to cut text with.

Rust libraries report UTF-8 byte offsets; Python slices by code point. Every span a
pack returns goes through here, and one that does not hold the text the library said
it found raises (an `error` verdict): a redaction at a wrong offset would cut the
wrong characters and leave the secret in place.
"""

from __future__ import annotations

from collections.abc import Iterable

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
