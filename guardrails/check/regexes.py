"""Regex literals and pattern operands: compiled once, at check time.

A pattern error is a diagnostic pointing into the literal, not a run-time surprise.
"""

from __future__ import annotations

import re

from ..diagnostics import Diagnostic, Severity
from ..source import Span

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def compile_regex(
    pattern: str, flags: str, span: Span, diags: list[Diagnostic], body_offset: int = 1
) -> re.Pattern[str] | None:
    """Compile `pattern`; on error report GR0220 at the offending character.

    `body_offset` is where the pattern text starts inside `span` (1 for `/.../` and
    for quoted strings), so `re.error.pos` maps onto a column in the source.
    """
    value = 0
    for i, flag in enumerate(flags):
        if flag not in _FLAGS:
            flag_pos = span.end - len(flags) + i
            diags.append(
                Diagnostic(
                    "GR0220",
                    Severity.ERROR,
                    f"unknown regex flag '{flag}'",
                    span.file.span(flag_pos, flag_pos + 1),
                    hint="flags are i (ignore case), m (multiline), s (dot matches newline), "
                    "x (verbose)",
                )
            )
            return None
        value |= _FLAGS[flag]
    try:
        return re.compile(pattern, value)
    except re.error as err:
        pos = err.pos if err.pos is not None else 0
        start = min(span.start + body_offset + pos, span.end)
        diags.append(
            Diagnostic(
                "GR0220",
                Severity.ERROR,
                f"invalid regex: {err.msg}",
                span.file.span(start, min(start + 1, span.end)),
            )
        )
        return None
