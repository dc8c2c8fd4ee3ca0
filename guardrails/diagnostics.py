"""Diagnostics: the one shape every stage reports user mistakes in, and its renderers.

A diagnostic is data (a stable code, a severity, a message, a span and an optional
hint); rendering is separate, so the CLI, JSON output and exceptions all agree.
Codes are never reused for another meaning: `CODES` is the registry and the docs.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .source import Span

Highlighter = Callable[[str], str]  # one source line -> the same line in terminal colours

CODES: dict[str, str] = {
    # syntax (GR01xx)
    "GR0100": "syntax error: unexpected token",
    "GR0101": "syntax error: unexpected end of file",
    "GR0102": "syntax error: unexpected character",
    "GR0103": "invalid string or regex literal",
    "GR0104": "rules file cannot be read",
    "GR0105": "no .rules files found",
    "GR0106": "rule has no action",
    "GR0107": "expression nested too deeply",
    "GR0108": "rules file too large",
    "GR0109": "number out of range",
    "GR0110": "invalid interpolation in a reason",
    # names and structure (GR02xx)
    "GR0200": "unknown hook",
    "GR0201": "unknown fact or field for this hook",
    "GR0202": "unknown name",
    "GR0203": "unknown function",
    "GR0204": "wrong number of arguments",
    "GR0205": "duplicate rule id",
    "GR0206": "duplicate let name",
    "GR0207": "let name shadows a fact",
    "GR0208": "rule has no hook",
    "GR0209": "duplicate clause",
    # types (GR021x)
    "GR0210": "type mismatch",
    "GR0211": "condition is not a boolean",
    "GR0212": "invalid argument",
    "GR0213": "index must be a literal string or integer",
    # regexes (GR022x)
    "GR0220": "invalid regex",
    "GR0221": "regex must be a constant",
    "GR0222": "regex needs backtracking (RE2 cannot run it)",
    # rules vs modes and payloads (GR023x)
    "GR0230": "unknown mode",
    "GR0231": "block in a mode that cannot block",
    "GR0232": "set/redact in a mode whose changes are discarded",
    "GR0233": "field is not writable on this hook",
    "GR0234": "set value has the wrong type",
    "GR0235": "unknown on_error value",
    "GR0236": "invalid since date",
    "GR0237": "continue on a hook with no exit to refuse",
    "GR0240": "let refers to itself",
    "GR0241": "let value must be a constant",
    "GR0242": "lets nested too deeply",
    "GR0243": "map literal is not constant",
    # state (GR025x)
    "GR0250": "state name already taken",
    "GR0251": "invalid state limit",
    "GR0252": "unknown state, or add/track on the wrong kind",
    "GR0253": "state read where the call's state is not known yet",
    "GR0255": "unknown or undeclared state field",
    "GR0256": "repeated or conflicting state option",
    "GR0257": "state duration out of range",
    "GR0258": "add needs a number",
    # quantifiers (GR026x)
    "GR0260": "quantifier over something that is not a list",
    "GR0261": "quantifier's bound name hides another name",
    # host functions (GR0265-0272)
    "GR0265": "host function called where state is worked out",
    # detectors (GR0275-0279)
    "GR0275": "a detector whose optional extra is not installed",
    "GR0276": "a finding has no such field",
    "GR0277": "redact by a detector: unknown entity type",
    "GR0278": "redact by a detector that gives a score, not spans",
    "GR0279": "unknown redaction operator",
    # message lists (GR0280-0284)
    "GR0280": "message list not writable on this hook",
    "GR0281": "message role the host does not take",
    "GR0282": "message is not a map of role and text",
    "GR0283": "message role or text is not a string",
    # circuit breakers (GR0285-0289)
    "GR0285": "breaker failure count out of range",
    "GR0286": "unknown breaker setting",
    "GR0287": "breaker window or cooldown out of range",
    "GR0288": "breaker on a rule that only updates state",
    # warnings (GR03xx)
    "GR0300": "unused let",
    "GR0301": "rule can never fire",
    "GR0302": "rule shadowed by an earlier blocking rule",
    "GR0303": "same test, conflicting actions",
    "GR0304": "audit rule older than the allowed age",
    "GR0305": "two rules of one phase set the same field",
    "GR0310": "state never updated",
    "GR0311": "state never read",
    "GR0320": "quantifier condition does not use its element",
    "GR0321": "host function declared with nothing to run on (the judge without judge=)",
    "GR0324": "message edit in a rule that blocks",
    "GR0325": "breaker on an on_error ignore rule",
}


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a rules file, located by span."""

    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None
    # other places the problem names (the first definition of a duplicate), for editors
    related: tuple[tuple[str, Span], ...] = field(default=(), compare=False)

    @property
    def file(self) -> str:
        return self.span.file.path

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "hint": self.hint,
            "related": [
                {
                    "message": message,
                    "file": span.file.path,
                    "line": span.line,
                    "column": span.column,
                    "end_line": span.end_line,
                    "end_column": span.end_column,
                }
                for message, span in self.related
            ],
        }

    def render(self, color: bool = False, highlight: Highlighter | None = None) -> str:
        """Compiler-style text: header, source line, caret run, hint.

        With `color`, the source line goes through `highlight`; the CLI passes the
        rules lexer of its tooling, which the core does not import.
        """
        span = self.span
        sev = self.severity.value
        if color:
            sev_color = "red" if self.severity is Severity.ERROR else "yellow"
            sev = _style(sev, sev_color)
        head = f"{span.location}: {sev}[{self.code}]: {self.message}"
        src = span.file.line_text(span.line)
        if not src.strip() and not span.file.text:
            return head + (f"\n  = hint: {self.hint}" if self.hint else "")
        prefix = src[: span.column - 1]
        pad = len(prefix.expandtabs()) if "\t" in prefix else len(prefix)
        width = max(1, (span.end_column - span.column) if span.end_line == span.line else 1)
        if span.end_line != span.line:
            width = max(1, len(src) - (span.column - 1))
        gutter = f"{span.line} | "
        shown = src.expandtabs()
        if color:
            shown = (highlight or _registered_highlighter())(shown)
        lines = [
            head,
            f"{gutter}{shown}",
            " " * len(gutter)
            + " " * pad
            + ("^" * width if not color else _style("^" * width, "red")),
        ]
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        return "\n".join(lines)


@functools.cache
def _registered_highlighter() -> Highlighter:
    """The lexer Pygments knows as `rules` (the package's `pygments.lexers` entry
    point), for callers that pass none; plain text if there is none."""
    try:  # Pygments is optional for the core
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:
        return _plain
    try:
        lexer = get_lexer_by_name("rules")
    except ClassNotFound:
        return _plain
    formatter = TerminalFormatter()
    return lambda line: str(highlight(line, lexer, formatter)).rstrip("\n")


def _plain(line: str) -> str:
    return line


def _style(text: str, color: str) -> str:
    codes = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2"}
    return f"\x1b[{codes[color]}m{text}\x1b[0m"


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file, d.span.start, d.span.end, d.code)


def render_text(
    diagnostics: Sequence[Diagnostic], color: bool = False, highlight: Highlighter | None = None
) -> str:
    """All diagnostics, sorted by position, then a pydantic-style count line."""
    diags = sorted(diagnostics, key=sort_key)
    parts = [d.render(color, highlight) for d in diags]
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = len(diags) - errors
    parts.append(_summary(errors, warnings))
    return "\n\n".join(parts[:-1]) + ("\n\n" if len(parts) > 1 else "") + parts[-1]


def _summary(errors: int, warnings: int) -> str:
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')}"


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    diags = sorted(diagnostics, key=sort_key)
    return json.dumps([d.to_dict() for d in diags], indent=2)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


class GuardrailsError(Exception):
    """Base class of every error this package raises on purpose."""


class RulesError(GuardrailsError):
    """Raised by `load()` when the rules have errors; carries every diagnostic found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=sort_key)
        super().__init__(render_text(self.diagnostics))

    def __str__(self) -> str:
        return render_text(self.diagnostics)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.diagnostics,))

    def errors(self) -> list[dict[str, Any]]:
        """The diagnostics as plain dicts (JSON-ready), like pydantic's `errors()`."""
        return [d.to_dict() for d in self.diagnostics]
