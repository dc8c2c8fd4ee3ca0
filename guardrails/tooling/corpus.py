"""The snapshot corpus: payload cases grouped by hook, and what the rules decide on them.

A corpus is a directory with one sub-directory per hook, each holding JSON cases:

    tests/corpus/generation_pre_call/huge_prompt.json
    {"description": "...", "expect": "block by token_budget", "facts": {"prompt": "..."}}

(`facts` may be omitted: then every key except `description` and `expect` is a fact.)
A case runs twice, through `Policy.evaluate` and through a real cpex manager, and its
outcome is rendered as stable, readable text for a syrupy snapshot. `expect` lines are
checked on their own, so a wrong verdict fails even when snapshots are being updated.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import GuardrailsError
from ..policy.policy import Policy
from ..runtime.verdict import ERROR_CODE, Verdict

RESERVED = ("description", "expect", "facts")
OUTCOMES = ("allow", "block", "modify")
RULE_VERDICTS = ("pass", "block", "warn", "modify", "would_block", "error", "skipped", "record")
_EXPECT = re.compile(r"^\s*(\w+)(?:\s+by\s+(\S+))?(?:\s+code\s+(\S+))?\s*$")


class CorpusError(GuardrailsError):
    """A corpus case that cannot be run (bad JSON, unknown hook, bad expectation)."""


@dataclass(frozen=True)
class Expectation:
    text: str
    verdict: str
    rule: str | None
    code: str | None

    @classmethod
    def parse(cls, text: str) -> Expectation:
        match = _EXPECT.match(text)
        if match is None or match.group(1) not in (*OUTCOMES, *RULE_VERDICTS):
            raise CorpusError(
                f"cannot read expectation {text!r}: write e.g. 'allow', 'block by RULE', "
                "'block by RULE code CODE', 'would_block by RULE', 'warn by RULE'"
            )
        verdict, rule, code = match.groups()
        if verdict not in OUTCOMES and rule is None:
            raise CorpusError(f"expectation {text!r} needs a rule: '{verdict} by RULE'")
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
            return f"expected {self.text!r}, but no rule {self.rule!r} applies to {verdict.hook}"
        if result.verdict != self.verdict or (self.code is not None and result.code != self.code):
            got = f"{result.verdict} by {result.rule_id}" + (
                f" code {result.code}" if result.code else ""
            )
            return f"expected {self.text!r}, got {got!r}"
        return None


@dataclass(frozen=True)
class Case:
    hook: str
    name: str
    path: Path
    facts: dict[str, Any]
    description: str | None = None
    expect: tuple[Expectation, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.hook}/{self.name}"


@dataclass
class CaseResult:
    case: Case
    verdict: Verdict
    cpex: str | None = None  # the outcome through a real cpex manager
    problems: list[str] = field(default_factory=list)


def load_case(path: Path, hook: str) -> Case:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CorpusError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CorpusError(f"{path}: cannot read: {err}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: a case must be a JSON object")
    if "facts" in data:
        facts = data["facts"]
        extra = set(data) - set(RESERVED)
        if extra:
            raise CorpusError(f"{path}: unknown keys next to 'facts': {sorted(extra)}")
    else:
        facts = {k: v for k, v in data.items() if k not in RESERVED}
    if not isinstance(facts, dict):
        raise CorpusError(f"{path}: 'facts' must be a JSON object")
    raw_expect = data.get("expect", [])
    if isinstance(raw_expect, str):
        raw_expect = [raw_expect]
    if not isinstance(raw_expect, list) or not all(isinstance(e, str) for e in raw_expect):
        raise CorpusError(f"{path}: 'expect' must be a string or a list of strings")
    description = data.get("description")
    return Case(
        hook=hook,
        name=path.stem,
        path=path,
        facts=facts,
        description=description if isinstance(description, str) else None,
        expect=tuple(Expectation.parse(e) for e in raw_expect),
    )


def hook_dirs(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def case_files(hook_dir: Path) -> list[Path]:
    return sorted(p for p in hook_dir.glob("*.json") if p.is_file())


def iter_cases(corpus: Path) -> Iterator[tuple[str, Path]]:
    for hook_dir in hook_dirs(corpus):
        for path in case_files(hook_dir):
            yield hook_dir.name, path


# ---- running and rendering ----


def describe_outcome(verdict: Verdict) -> str:
    if verdict.outcome == "block":
        return f"block by {verdict.blocked_by} code {verdict.code}"
    return verdict.outcome


def run_case(policy: Policy, case: Case, manager: Any = None) -> CaseResult:
    verdict = policy.evaluate(case.hook, case.facts)
    result = CaseResult(case, verdict)
    if manager is not None:
        result.cpex = asyncio.run(_through_cpex(manager, case))
        expected = describe_outcome(verdict)
        # a failing transform rule cannot block in cpex: it raises PluginError instead
        raised = result.cpex.startswith("raises") and verdict.code == ERROR_CODE
        if result.cpex.split(";")[0] != expected and not raised:
            result.problems.append(
                f"cpex and evaluate disagree: cpex {result.cpex!r}, evaluate {expected!r}"
            )
    for expectation in case.expect:
        problem = expectation.check(verdict)
        if problem:
            result.problems.append(problem)
    return result


async def _through_cpex(manager: Any, case: Case) -> str:
    from ..adapters.cpex.outcome import outcome

    request_id = case.facts.get("request_id")
    return await outcome(
        manager, case.hook, case.facts, request_id if isinstance(request_id, str) else case.id
    )


def _value(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, default=lambda o: f"<{type(o).__name__}>"
    )


def render(result: CaseResult) -> str:
    """The snapshot text: stable across runs and machines, one line per rule."""
    verdict, case = result.verdict, result.case
    lines = [f"case: {case.id}"]
    if case.description:
        lines.append(f"description: {case.description}")
    lines.append(f"outcome: {describe_outcome(verdict)}")
    if result.cpex is not None:
        lines.append(f"cpex: {result.cpex}")
    lines.append("rules:")
    if not verdict.rules:
        lines.append("  (no rules on this hook)")
    for rule in verdict.rules:
        line = f"  {rule.rule_id}: {rule.verdict}"
        if rule.code and rule.verdict != "pass":
            line += f" code {rule.code}"
        if rule.error:
            line += f" ({rule.error})"
        lines.append(line)
        for path in rule.changes:
            lines.append(f"    set {path} = {_value(_get(verdict.payload, path))}")
    return "\n".join(lines)


def _get(facts: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        facts = facts.get(key) if isinstance(facts, dict) else None
    return facts


_RULE_LINE = re.compile(r"^\s+([\w:.-]+): (\w+)(.*)$")


def rule_lines(text: str) -> dict[str, str]:
    """rule id -> 'verdict [code ...]' from a snapshot text (old or new)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        match = _RULE_LINE.match(raw)
        if match and match.group(1) not in ("case", "description", "outcome", "cpex", "set"):
            out[match.group(1)] = (match.group(2) + match.group(3)).strip()
    return out


def explain_change(case: Case, old: str, new: str) -> list[str]:
    """A minimal, readable diff of two snapshot texts: which rule's verdict changed."""
    before, after = rule_lines(old), rule_lines(new)
    lines = []
    for rule in sorted(set(before) | set(after)):
        if before.get(rule) != after.get(rule):
            lines.append(
                f"{case.id}: rule {rule}: expected {before.get(rule, '(absent)')!r}, "
                f"got {after.get(rule, '(absent)')!r}"
            )
    old_outcome = next((ln for ln in old.splitlines() if "outcome:" in ln), "")
    new_outcome = next((ln for ln in new.splitlines() if "outcome:" in ln), "")
    if old_outcome.strip() != new_outcome.strip():
        lines.append(f"{case.id}: {old_outcome.strip()!r} became {new_outcome.strip()!r}")
    return lines
