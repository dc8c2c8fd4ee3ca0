"""Untrusted text made safe to print on a terminal.

A decision log is written by whatever process held the policy and read by whoever
runs `guardrails report`: a rule id, code or hook name in it that carries `ESC [2J`,
a carriage return or a bidi override could clear, overwrite or reorder what the
operator sees. Text output shows such characters as escapes (`\\x1b`, `\\u202e`);
everything else, other scripts and emoji included, is printed as it is. JSON output
needs none of this: `json.dumps` escapes them already.
"""

from __future__ import annotations

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_LINE_BREAKS = (0x2028, 0x2029)  # line and paragraph separators
_UNSAFE = (*range(0x20), *range(0x7F, 0xA0), *_BIDI, *_LINE_BREAKS)
_TABLE = {cp: f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" for cp in _UNSAFE}
_TABLE |= {ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}


def printable(text: str) -> str:
    """`text` with control characters (C0, DEL, C1) and bidi controls escaped."""
    return text.translate(_TABLE)
