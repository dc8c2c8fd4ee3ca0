"""A corpus case's `expect` lines: read strictly, so a typo is an error that names the
case file and the word it probably meant, never an expectation that silently holds."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnostics import GuardrailsError
from ..runtime.verdict import Verdict

OUTCOMES = ("allow", "block", "modify")
RULE_VERDICTS = ("pass", "block", "warn", "modify", "would_block", "error", "skipped", "record")
_EXPECT = re.compile(r"^\s*(\w+)(?:\s+by\s+(\S+))?(?:\s+code\s+(\S+))?\s*$")
_FORMS = (
    "write e.g. 'allow', 'block by RULE', 'block by RULE code CODE', "
    "'would_block by RULE', 'warn by RULE', 'pass by RULE'"
)


class CorpusError(GuardrailsError):
    """A corpus case that cannot be run (bad JSON, unknown hook, bad expectation)."""


def _did_you_mean(word: str) -> str:
    close = difflib.get_close_matches(word.lower(), sorted({*OUTCOMES, *RULE_VERDICTS}), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Expectation:
    text: str
    verdict: str
    rule: str | None
    code: str | None

    @classmethod
    def parse(cls, text: str, where: Path | str | None = None) -> Expectation:
        """Raises CorpusError, prefixed with `where` (the case file) when given."""
        prefix = f"{where}: " if where is not None else ""
        match = _EXPECT.match(text)
        if match is None:
            first = text.split(maxsplit=1)[0] if text.split() else ""
            hint = (
                _did_you_mean(first) if first and first not in (*OUTCOMES, *RULE_VERDICTS) else ""
            )
            raise CorpusError(f"{prefix}cannot read expectation {text!r}{hint}: {_FORMS}")
        verdict, rule, code = match.groups()
        if verdict not in (*OUTCOMES, *RULE_VERDICTS):
            raise CorpusError(
                f"{prefix}expectation {text!r}: unknown verdict {verdict!r}"
                f"{_did_you_mean(verdict)} ({_FORMS})"
            )
        if verdict not in RULE_VERDICTS and rule is not None:  # `allow by RULE`
            raise CorpusError(
                f"{prefix}expectation {text!r}: {verdict!r} is the call's outcome and names "
                f"no rule; for the rule's own verdict write 'pass by {rule}'"
            )
        if verdict not in OUTCOMES and rule is None:
            raise CorpusError(f"{prefix}expectation {text!r} needs a rule: '{verdict} by RULE'")
        return cls(text.strip(), verdict, rule, code)

    def check(self, verdict: Verdict) -> str | None:
        """None when it holds, else what went wrong, in a sentence."""
        if self.verdict in OUTCOMES and (self.rule is None or self.verdict == "block"):
            got = describe_outcome(verdict)
            if verdict.outcome != self.verdict:
                return f"expected {self.text!r}, got {got!r}"
            if self.rule is not None and verdict.blocked_by != self.rule:
                return f"expected {self.text!r}, got {got!r}"
            if self.code is not None and verdict.code != self.code:
                return f"expected {self.text!r}, got {got!r}"
            return None
        try:
            result = verdict.rule(self.rule or "")
        except KeyError:
            ids = [r.rule_id for r in verdict.rules]
            close = difflib.get_close_matches(self.rule or "", ids, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return (
                f"expected {self.text!r}, but no rule {self.rule!r} applies to {verdict.hook}{hint}"
            )
        if result.verdict != self.verdict or (self.code is not None and result.code != self.code):
            got = f"{result.verdict} by {result.rule_id}" + (
                f" code {result.code}" if result.code else ""
            )
            return f"expected {self.text!r}, got {got!r}"
        return None


def parse_expect(raw: Any, path: Path) -> tuple[Expectation, ...]:
    """A case's `expect` value: a string or a list of strings."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
        raise CorpusError(
            f"{path}: 'expect' must be a string or a list of strings, got {_shown(raw)}"
            ' (e.g. "expect": "block by RULE" or ["allow", "pass by RULE"])'
        )
    return tuple(Expectation.parse(e, path) for e in raw)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_outcome(verdict: Verdict) -> str:
    if verdict.outcome == "block":
        return f"block by {verdict.blocked_by} code {verdict.code}"
    return verdict.outcome
