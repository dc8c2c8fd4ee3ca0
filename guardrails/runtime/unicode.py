"""`normalize()` and `basename()`: the tools a rule needs against evasion by spelling.

An attacker who can type `ｓｈｅｌｌ`, `sh\u200bell`, `Shell`, `ѕhell` (Cyrillic s) or
`rm\t-Rf` walks around a rule that compares raw text. `normalize(s)` folds all of
these to one spelling, for matching (never for rewriting what a host sees):

1. NFKC: compatibility forms become their plain letters (fullwidth `ｓ`, math bold
   `𝐬`, circled `ⓢ`, ligatures `ﬁ`, NBSP and the other wide spaces);
2. casefold: case-insensitive, including `ß` -> `ss`;
3. combining marks and invisible format characters removed (zero-width spaces and
   joiners, bidi controls, soft hyphens, variation selectors, Hangul fillers), so
   `s\u200bhell` and `ṡhell` are `shell`;
4. Cyrillic and Greek letters that look like Latin ones become those Latin letters
   (the lower-case forms left by casefold; a table of letters whose glyphs match);
5. every run of whitespace (tab, newline, any Unicode space) becomes one space, and
   the ends are trimmed.

Only the characters a string actually contains are classified, so the cost is one
pass of C string methods plus a dictionary per distinct non-ASCII character.
"""

from __future__ import annotations

import unicodedata

# lower-case Cyrillic, Greek and other Latin look-alikes -> the Latin letter they show
_LOOKALIKES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "с": "c", "ѕ": "s", "т": "t",
    "у": "y", "х": "x", "ԁ": "d", "ԝ": "w", "ո": "n", "ս": "u", "օ": "o",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j", "ɡ": "g", "ı": "i", "ȷ": "j", "ɑ": "a",
}  # fmt: skip
_HIDDEN_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u034f")
_TABLE: dict[int, str | None] = {ord(k): v for k, v in _LOOKALIKES.items()}


def _folding(ch: str) -> str | None:
    if ch in _FILLERS or unicodedata.category(ch) in _HIDDEN_CATEGORIES:
        return None
    return _LOOKALIKES.get(ch, ch)


def normalize_text(s: str) -> str:
    folded = unicodedata.normalize("NFKC", s).casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFD", folded)
        table = dict(_TABLE)
        for ch in set(decomposed):
            if not ch.isascii() and ord(ch) not in table:
                table[ord(ch)] = _folding(ch)
        folded = unicodedata.normalize("NFC", decomposed.translate(table))
    return " ".join(folded.split())


def basename_text(path: str) -> str:
    """The last component of a POSIX or Windows path: `/bin/sh` and `C:\\x\\sh.exe`."""
    trimmed = path.rstrip("/\\")
    return trimmed[max(trimmed.rfind("/"), trimmed.rfind("\\")) + 1 :]
