"""A rule's reason with its `{fact}` parts filled in, and what it remembers of them.

The caller is told the whole text; a decision log writes a part that showed private
text (a prompt) as written instead (records/capture.py `logged_reason`), so a reason
keeps, per part, the text it showed and the fact paths that text came from.
"""

from __future__ import annotations

import re
from typing import Any

from .text import text

REASON_VALUE_CHARS = 200
# what a shown value must not carry into a response or a log line: C0 and C1 controls
# (newlines, escapes) and the Unicode line and paragraph separators
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Reason(str):
    """A rendered `{fact}` reason that remembers its pieces: `pieces` alternates the
    literal text and each part's shown value, `slots` holds, per part, the fact paths
    it read. The caller gets the whole text; a decision log writes a part that read
    private text (a prompt) as written instead (records/capture.py `logged_reason`)."""

    pieces: tuple[str, ...]
    slots: tuple[tuple[tuple[Any, ...], ...], ...]


def render_reason(
    parts: tuple[object, ...], slots: tuple[tuple[tuple[Any, ...], ...], ...] | None = None
) -> str:
    """A reason with its `{fact}` parts filled in (strings are the literal text; the
    rest are values). Never fails: a reason is what the caller is told, so a value that
    cannot be shown shows as `…` instead of turning a decision into an error. Each
    value is its text (null is `null`), cut at 200 characters, control characters
    turned into spaces, so one value cannot fill or break a response or a log line.
    `slots` (the fact paths each part reads) makes it a `Reason`."""
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(str(part))
            continue
        try:
            shown = "null" if part is None else text(part, REASON_VALUE_CHARS * 4)
        except Exception:
            shown = None
        if shown is None:
            out.append("…")
            continue
        if len(shown) > REASON_VALUE_CHARS:
            shown = shown[:REASON_VALUE_CHARS] + "…"
        out.append(_CONTROL.sub(" ", shown))
    if slots is None:
        return "".join(out)
    reason = Reason("".join(out))
    reason.pieces = tuple(out)
    values = parts[1::2]
    reason.slots = tuple(
        (*paths, *_inner(value)) for paths, value in zip(slots, values, strict=False)
    )
    return reason


def _inner(value: object) -> tuple[tuple[Any, ...], ...]:
    """The paths a value that is itself a reason read: a rule's reason that came back
    as a fact (Haystack's `exit_reason` is the block's reason) is as private as they."""
    if not isinstance(value, Reason):
        return ()
    return tuple(path for paths in value.slots for path in paths)
