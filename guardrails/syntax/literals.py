"""String and number literals: decoded from their tokens, problems as diagnostics."""

from __future__ import annotations

import math
import sys

from lark import Token

from ..diagnostics import Diagnostic, Severity
from ..source import SourceFile, Span

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_MAX_INT_DIGITS = len(str(int(sys.float_info.max)))  # 309


def _error(diags: list[Diagnostic], span: Span, message: str, hint: str | None = None) -> None:
    diags.append(Diagnostic("GR0103", Severity.ERROR, message, span, hint))


def decode_string(file: SourceFile, tok: Token, diags: list[Diagnostic]) -> str:
    """A STRING token's text with its escapes decoded; a bad escape is a diagnostic."""
    raw = str(tok)[1:-1]
    base = (tok.start_pos or 0) + 1
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = raw[i + 1] if i + 1 < len(raw) else ""
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc in _HEX_ESCAPES:
            width = _HEX_ESCAPES[esc]
            digits = raw[i + 2 : i + 2 + width]
            where = file.span(base + i, base + i + 2 + len(digits))
            try:
                if len(digits) != width:
                    raise ValueError(digits)
                code = int(digits, 16)
            except ValueError:
                _error(diags, where, f"invalid \\{esc} escape: expected {width} hex digits")
            else:
                if code <= sys.maxunicode:
                    out.append(chr(code))
                else:  # chr() would raise ValueError, or OverflowError past 2**31
                    _error(diags, where, f"invalid \\{esc} escape: past U+10FFFF")
            i += 2 + width
        else:
            _error(
                diags,
                file.span(base + i, base + i + 2),
                f"unknown escape sequence '\\{esc}' in string",
                hint="write '\\\\' for a literal backslash",
            )
            i += 2
    return "".join(out)


def number_value(file: SourceFile, tok: Token, diags: list[Diagnostic]) -> int | float:
    """An INT or FLOAT token's value; past a 64-bit float's range it is a diagnostic.

    Python would read such a literal as infinity (`1e999`), or refuse to convert it
    (an integer of more than 4,300 digits raises ValueError)."""
    text = str(tok)
    if tok.type == "INT":
        digits = text.lstrip("0") or "0"
        value: int | float = int(digits) if len(digits) <= _MAX_INT_DIGITS else math.inf
        if value <= sys.float_info.max:
            return value
    else:
        value = float(text)
        if math.isfinite(value):
            return value
    shown = text if len(text) <= 20 else f"{text[:12]}... ({len(text)} characters)"
    diags.append(
        Diagnostic(
            "GR0109",
            Severity.ERROR,
            f"number {shown} is out of range",
            file.span(tok.start_pos or 0, (tok.start_pos or 0) + len(tok)),
            hint="numbers must lie within ±1.8e308, the range of a 64-bit float",
        )
    )
    return 0
