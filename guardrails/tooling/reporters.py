"""Diagnostics for machines: SARIF 2.1.0 (code scanning, editors) and GitHub Actions
workflow annotations. Text and JSON live in diagnostics.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..diagnostics import CODES, Diagnostic, Severity, sort_key
from ..source import Span

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning"}


def render_sarif(diagnostics: Sequence[Diagnostic], version: str) -> str:
    diags = sorted(diagnostics, key=sort_key)
    used = sorted({d.code for d in diags})
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "guardrails",
                "version": version,
                "informationUri": "https://pypi.org/project/guardrails-rules/",
                "rules": [
                    {"id": code, "shortDescription": {"text": CODES.get(code, code)}}
                    for code in used
                ],
            }
        },
        "results": [_result(d, used.index(d.code)) for d in diags],
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)


def _result(d: Diagnostic, rule_index: int) -> dict[str, Any]:
    text = d.message + (f" ({d.hint})" if d.hint else "")
    result: dict[str, Any] = {
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": _LEVEL[d.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": _physical(d.span)}],
    }
    if d.related:  # the other places it names (the first definition of a duplicate)
        result["relatedLocations"] = [
            {"id": i, "physicalLocation": _physical(span), "message": {"text": message}}
            for i, (message, span) in enumerate(d.related)
        ]
    return result


def _physical(span: Span) -> dict[str, Any]:
    region = {
        "startLine": span.line,
        "startColumn": span.column,
        "endLine": span.end_line,
        "endColumn": max(span.end_column, span.column),
    }
    return {"artifactLocation": {"uri": span.file.path}, "region": region}


def _escape(text: str, property_value: bool = False) -> str:
    """GitHub workflow-command escaping (%, CR, LF; and , : in properties)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    lines = []
    for d in sorted(diagnostics, key=sort_key):
        kind = "error" if d.severity is Severity.ERROR else "warning"
        props = (
            f"file={_escape(d.file, True)},line={d.line},col={d.column},"
            f"endLine={d.span.end_line},endColumn={d.span.end_column},"
            f"title={_escape(d.code, True)}"
        )
        message = d.message + (f" ({d.hint})" if d.hint else "")
        lines.append(f"::{kind} {props}::{_escape(message)}")
    return "\n".join(lines)
