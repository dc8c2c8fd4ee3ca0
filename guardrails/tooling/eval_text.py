"""`guardrails eval`: the facts it reads and the verdict it prints.

Colour comes from the caller as a `style` function, so this stays free of the
command-line library and a test can read the text with or without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any

from ..diagnostics import GuardrailsError
from ..runtime.verdict import Verdict

Style = Callable[[str, str], str]  # (text, colour name) -> the text in that colour

VERDICT_COLOURS = {
    "block": "red",
    "error": "red",
    "would_block": "yellow",
    "warn": "yellow",
    "modify": "cyan",
    "pass": "green",
    "skipped": "bright_black",
}
OUTCOME_COLOURS = {"block": "red", "modify": "cyan", "allow": "green"}


class PayloadError(GuardrailsError):
    """The payload given to `eval` is not a JSON object of facts."""


def read_facts(payload: IO[str]) -> dict[str, Any]:
    """The facts of a JSON payload: an object of facts, or a corpus case file."""
    try:
        facts = json.load(payload)
    except json.JSONDecodeError as err:
        raise PayloadError(f"payload is not valid JSON: {err}") from None
    if not isinstance(facts, dict):
        raise PayloadError("payload must be a JSON object of facts")
    if "facts" in facts and set(facts) <= {"description", "expect", "facts"}:
        facts = facts["facts"]  # a corpus case file
        if not isinstance(facts, dict):
            raise PayloadError("the case's 'facts' must be a JSON object")
    return facts


def format_verdict(verdict: Verdict, style: Style | None = None) -> str:
    def paint(text: str, colour: str) -> str:
        return style(text, colour) if style is not None else text

    head = paint(verdict.outcome.upper(), OUTCOME_COLOURS[verdict.outcome])
    lines = [f"{verdict.hook}: {head}"]
    if verdict.blocked_by:
        lines[0] += f" by {verdict.blocked_by} [{verdict.code}] {verdict.reason}"
    if not verdict.rules:
        lines.append("  (no rules on this hook)")
    width = max((len(r.rule_id) for r in verdict.rules), default=0)
    for r in verdict.rules:
        detail = ""
        if r.code:
            detail = f" [{r.code}] {r.reason or ''}"
        if r.changes:
            detail += " changed " + ", ".join(r.changes)
        mark = paint(f"{r.verdict:<11}", VERDICT_COLOURS[r.verdict])
        lines.append(f"  {r.rule_id:<{width}}  {mark} {r.mode}/{r.priority}{detail}")
    return "\n".join(lines)
