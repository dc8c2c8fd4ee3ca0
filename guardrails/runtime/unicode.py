"""`normalize()` and `basename()`: the tools a rule needs against evasion by spelling.

An attacker who can type `ｓｈｅｌｌ`, `sh\u200bell`, `Shell`, `ѕhell` (Cyrillic s) or
`rm\t-Rf` walks around a rule that compares raw text. `normalize(s)` folds all of
these to one spelling, for matching (never for rewriting what a host sees):

1. NFKC: compatibility forms become their plain letters (fullwidth `ｓ`, math bold
   `𝐬`, circled `ⓢ`, ligatures `ﬁ`, NBSP and the other wide spaces);
2. casefold: case-insensitive, including `ß` -> `ss`;
3. combining marks and invisible format characters removed (zero-width spaces and
   joiners, bidi controls, soft hyphens, variation selectors), so `s\u200bhell` and
   `ṡhell` are `shell`; characters that show as blanks (Hangul fillers, the Braille
   blank) become spaces; tag characters (U+E0020-E007E, invisible copies of ASCII that
   some models read) become the ASCII they mirror, so a hidden phrase is seen;
4. letters that look like Latin ones become those Latin letters: Cyrillic, Greek,
   Cherokee, small capitals (a table of letters whose glyphs match);
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
    "ø": "o", "ɨ": "i", "ɘ": "e", "ə": "e", "ɛ": "e", "ɔ": "o", "ʋ": "u",
    # small capitals, which NFKC leaves alone and models read as letters
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ǫ": "q", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    # Cherokee capitals (casefold turns the small ones into these)
    "Ꭺ": "a", "Ᏼ": "b", "Ꮯ": "c", "Ꭼ": "e", "Ꮐ": "g", "Ꮋ": "h", "Ꭵ": "i", "Ꭻ": "j",
    "Ꮶ": "k", "Ꮮ": "l", "Ꮇ": "m", "Ꮑ": "n", "Ꮎ": "o", "Ꮲ": "p", "Ꮢ": "r", "Ꮪ": "s",
    "Ꭲ": "t", "Ꮩ": "v", "Ꮃ": "w", "Ꮓ": "z",
}  # fmt: skip
_HIDDEN_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
# characters that show as blank space but are letters or symbols to Unicode
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_TAGS = range(0xE0020, 0xE007F)  # tag characters mirror ASCII; some models read them
_TABLE: dict[int, str | None] = {ord(k): v for k, v in _LOOKALIKES.items()}


def _folding(ch: str) -> str | None:
    code = ord(ch)
    if code in _TAGS:
        return chr(code - 0xE0000).casefold()
    if ch in _BLANKS:
        return " "
    if unicodedata.category(ch) in _HIDDEN_CATEGORIES:
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
