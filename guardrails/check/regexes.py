"""Regex literals and pattern operands: checked and compiled once, at load time, for RE2.

Payloads are untrusted, so no payload may make a rule take super-linear time: rules
run on RE2 (`google-re2`), whose matching is linear in the text. A pattern is first
parsed by Python's `re` (its errors carry a position), then compiled by RE2; what
RE2 cannot run (backreferences, lookaround, possessive/atomic groups) is a load-time
diagnostic pointing at the construct, never a silent fallback to backtracking.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import re2

from ..diagnostics import Diagnostic, Severity
from ..runtime.ops import Regex
from ..source import Span

_PY_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
_FLAG_HINT = "flags are i (ignore case), m (multiline), s (dot matches newline), x (verbose)"
MAX_REPEAT = 1000  # RE2's limit on a counted repetition `{n}`, `{m,n}`
MAX_GROUP_DEPTH = 100  # Python's parser, which reads the pattern first, recurses per group
_COUNTED = re.compile(r"\{(\d*)(?:,(\d*))?\}")
_REPEAT_HINT = f"RE2 repeats an item at most {MAX_REPEAT} times; use + or * for an open-ended count"
_TOO_LARGE_HINT = "split the pattern into a list of smaller ones (`matches [/a/, /b/]`)"


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    return options


_RE2_OPTIONS = _options()
REGEX_TYPE: type = type(re2.compile("", _RE2_OPTIONS))


def is_regex(value: object) -> bool:
    return isinstance(value, REGEX_TYPE)


def cached_regex(pattern: str) -> Regex:
    """A pattern `compile_regex` accepted before (its flags inline), read back from
    the ruleset cache."""
    if type(pattern) is not str:
        raise ValueError("a cached regex is a string")
    return re2.compile(pattern, _RE2_OPTIONS)


def compile_regex(
    pattern: str, flags: str, span: Span, diags: list[Diagnostic], body_offset: int = 1
) -> Regex | None:
    """Compile `pattern` for RE2; on error report at the offending character.

    `body_offset` is where the pattern text starts inside `span` (1 for `/.../` and
    for quoted strings), so positions map onto columns in the source.
    """
    py_flags = 0
    for i, flag in enumerate(flags):
        if flag not in _PY_FLAGS:
            flag_pos = span.end - len(flags) + i
            diags.append(
                Diagnostic(
                    "GR0220",
                    Severity.ERROR,
                    f"unknown regex flag '{flag}'",
                    span.file.span(flag_pos, flag_pos + 1),
                    hint=_FLAG_HINT,
                )
            )
            return None
        py_flags |= _PY_FLAGS[flag]

    def at(pos: int) -> Span:
        start = min(span.start + body_offset + max(pos, 0), span.end)
        return span.file.span(start, min(start + 1, span.end))

    problem = _structure_problem(pattern, "x" in flags)
    if problem is not None:
        pos, message, hint = problem
        diags.append(Diagnostic("GR0220", Severity.ERROR, message, at(pos), hint=hint))
        return None
    try:
        with warnings.catch_warnings():  # e.g. "possible set difference": RE2 decides
            warnings.simplefilter("ignore")
            re.compile(pattern, py_flags)
    except re.error as err:
        diags.append(
            Diagnostic("GR0220", Severity.ERROR, f"invalid regex: {err.msg}", at(err.pos or 0))
        )
        return None
    body = strip_verbose(pattern) if "x" in flags else pattern
    inline = "".join(f for f in flags if f in "ims")
    try:
        return re2.compile((f"(?{inline})" if inline else "") + body, _RE2_OPTIONS)
    except UnicodeEncodeError as err:  # a lone surrogate, from an escape like "\ud800"
        message = "invalid regex: a lone surrogate is not text RE2 can match"
        hint = "RE2 matches UTF-8; write the whole character, e.g. \U0001f600"
        diags.append(Diagnostic("GR0220", Severity.ERROR, message, at(err.start), hint=hint))
        return None
    except re2.error as err:
        message = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        fragment = message.rsplit(": ", 1)[-1]
        pos = pattern.find(fragment) if fragment else -1
        if "repetition size" in message or "too large" in message:
            # RE2's size limits, not backtracking: `(a{100}){100}` repeats 10,000 times
            code, text = "GR0220", f"invalid regex for RE2: {message}"
            hint = _REPEAT_HINT if "repetition" in message else _TOO_LARGE_HINT
        else:
            code = "GR0222"
            text = f"regex needs backtracking, which rules do not run: {message}"
            hint = _re2_hint(message)
        diags.append(Diagnostic(code, Severity.ERROR, text, at(max(pos, 0)), hint=hint))
        return None


def _structure_problem(pattern: str, verbose: bool) -> tuple[int, str, str] | None:
    """(position, message, hint) of a count over RE2's limit or groups nested too deep.

    Found by a scan before Python's parser runs, because that parser raises
    OverflowError (counts of 2**32 and more), ValueError (counts of more than 4,300
    digits) or RecursionError (deep groups) with no position, and RE2 itself reads a
    count of more than 8 digits as literal text, where Python read a repetition.
    """
    depth = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _class_end(pattern, i)
            continue
        if verbose and ch == "#":
            while i < len(pattern) and pattern[i] != "\n":
                i += 1
            continue
        if ch == "(":
            depth += 1
            if depth > MAX_GROUP_DEPTH:
                message = f"invalid regex: groups nested more than {MAX_GROUP_DEPTH} levels deep"
                return i, message, "flatten the pattern, or split it into several conditions"
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == "{" and (counted := _COUNTED.match(pattern, i)):
            low, high = counted.groups()
            if high is not None and not low:  # `{,5}`: Python repeats, RE2 reads text
                written = counted.group(0)
                message = f"invalid regex: RE2 reads {written} as literal text, not a count"
                return i, message, f"write the lower bound: {{0,{high}}}"
            if any(c and len(c) > 1 and c.startswith("0") for c in (low, high)):
                message = "invalid regex: RE2 reads a count with leading zeros as literal text"
                return i, message, "write the count without leading zeros"
            for count in counted.groups():
                if count and (len(count.lstrip("0")) > 4 or int(count) > MAX_REPEAT):
                    shown = count if len(count) <= 12 else count[:12] + "..."
                    message = f"invalid regex: repetition count {shown} is over {MAX_REPEAT}"
                    return i, message, _REPEAT_HINT
        i += 1
    return None


def _class_end(pattern: str, start: int) -> int:
    """The index just past the character class opening at `start` (`]` first is literal)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _re2_hint(message: str) -> str:
    if "escape" in message and any(f"\\{d}" in message for d in "123456789"):
        return "backreferences are not supported (matching stays linear in the text)"
    if "(?=" in message or "(?!" in message or "(?<" in message:
        return (
            "lookahead/lookbehind are not supported: match the wider text, and test the "
            "rest with another condition (`and not x matches /.../`)"
        )
    return "patterns run on RE2 (linear time); see https://github.com/google/re2/wiki/Syntax"


def strip_verbose(pattern: str) -> str:
    """The `x` flag done here (RE2 has none): drop whitespace and #-comments outside
    character classes, keeping escaped characters."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "#":
            while i < len(pattern) and pattern[i] != "\n":
                i += 1
            continue
        elif not ch.isspace():
            out.append(ch)
        i += 1
    return "".join(out)
