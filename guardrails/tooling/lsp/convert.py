"""Our diagnostics in the editor's terms: LSP positions, ranges and diagnostics.

Spans count characters from 1; LSP counts lines from 0 and columns in code units of
the negotiated encoding (UTF-16 unless the client offers another), so a character
outside the Basic Multilingual Plane (an emoji in a reason) is two columns to VS
Code. Getting this wrong puts every squiggle after such a character in the wrong
place, so every position goes through `position` here.

A diagnostic carries what its code actions need in `data` (the fix a did-you-mean
hint proposes, whether an ignore comment can silence it), and the hint in its
message, where an editor shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from ...diagnostics import Diagnostic, Severity
from ...source import SourceFile, Span

SOURCE = "guardrails"
_MEAN = re.compile(r"did you mean [`']([^`']+)[`']")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def units(text: str, encoding: str = types.PositionEncodingKind.Utf16) -> int:
    """The length of `text` in the encoding's code units."""
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def position(
    file: SourceFile, offset: int, encoding: str = types.PositionEncodingKind.Utf16
) -> types.Position:
    line, column = file.line_col(offset)
    start = offset - (column - 1)
    return types.Position(line - 1, units(file.text[start : start + column - 1], encoding))


def lsp_range(span: Span, encoding: str = types.PositionEncodingKind.Utf16) -> types.Range:
    return types.Range(
        position(span.file, span.start, encoding), position(span.file, span.end, encoding)
    )


def end_of(text: str, encoding: str = types.PositionEncodingKind.Utf16) -> types.Position:
    """The position just after the last character: a whole-document edit ends here."""
    return position(SourceFile("", text), len(text), encoding)


def suggestion(hint: str | None) -> str | None:
    """The replacement a did-you-mean hint names (`did you mean 'tool.name'?`)."""
    match = _MEAN.search(hint or "")
    return match.group(1) if match else None


def fix_text(hint: str | None, flagged: str) -> str | None:
    """The text to put in place of `flagged` (the diagnostic's span) to follow the
    hint. A span may cover more than the misspelt name (`tool.arg["x"]` is flagged
    whole, the hint names `tool.args`): a dotted name then replaces only the dotted
    name the span starts with."""
    proposed = suggestion(hint)
    if proposed is None:
        return None
    if _DOTTED.fullmatch(proposed):
        lead = _DOTTED.match(flagged)
        if lead is not None:
            return proposed + flagged[lead.end() :]
    return proposed


def silenceable(diagnostic: Diagnostic) -> bool:
    """Warnings (the lints) can be silenced by `# guardrails: ignore[CODE]`; errors not."""
    return diagnostic.severity is Severity.WARNING


def message(diagnostic: Diagnostic) -> str:
    hint = diagnostic.hint
    return diagnostic.message + (f"\nhint: {hint}" if hint else "")


def to_lsp(
    diagnostic: Diagnostic,
    encoding: str = types.PositionEncodingKind.Utf16,
    uri_of: Callable[[str], str | None] | None = None,
) -> types.Diagnostic:
    """`uri_of`: the URI of a file diagnostics name by its display path; the places a
    diagnostic names besides its own (a duplicate's first definition) need it."""
    data: dict[str, Any] = {"hint": diagnostic.hint}
    fix = fix_text(diagnostic.hint, diagnostic.span.text())
    if fix is not None:
        data["fix"] = fix
    if silenceable(diagnostic):
        data["ignore"] = diagnostic.code
    return types.Diagnostic(
        range=lsp_range(diagnostic.span, encoding),
        message=message(diagnostic),
        severity=(
            types.DiagnosticSeverity.Error
            if diagnostic.severity is Severity.ERROR
            else types.DiagnosticSeverity.Warning
        ),
        code=diagnostic.code,
        source=SOURCE,
        data=data,
        related_information=_related(diagnostic, encoding, uri_of) or None,
    )


def _related(
    diagnostic: Diagnostic, encoding: str, uri_of: Callable[[str], str | None] | None
) -> list[types.DiagnosticRelatedInformation]:
    out = []
    for note, span in diagnostic.related:
        uri = uri_of(span.file.path) if uri_of is not None else None
        if uri is not None:
            location = types.Location(uri, lsp_range(span, encoding))
            out.append(types.DiagnosticRelatedInformation(location, note))
    return out
