"""The snapshot corpus: payload cases grouped by hook, and what the rules decide on them.

A corpus is a directory with one sub-directory per hook, each holding JSON cases:

    tests/corpus/generation_pre_call/huge_prompt.json
    {"description": "...", "expect": "block by token_budget", "facts": {"prompt": "..."}}

(`facts` may be omitted: then every key except `description`, `expect`, `now` and
`state` is a fact.) A case may give the time it runs at and what the rules' states held
before it (`now`, `state`: tooling/seeding.py). A case runs twice, through
`Policy.evaluate` and through a real cpex manager, each run on its own fresh store
seeded alike, and its outcome is rendered as stable, readable text for a syrupy
snapshot, with the state the call read and updated. `expect` lines are checked on
their own, so a wrong verdict fails even when snapshots are being updated.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..check.catalog import DEFAULT_CATALOG
from ..policy.policy import Policy, load
from ..runtime.verdict import ERROR_CODE, Verdict
from .casejudge import Answers, CaseJudge, answering, parse_answers
from .expectations import (
    OUTCOMES,
    RULE_VERDICTS,
    CorpusError,
    Expectation,
    describe_outcome,
    parse_expect,
)
from .seeding import (
    DEFAULT_NOW,
    CaseStore,
    Entry,
    PriorStateError,
    exchange_lines,
    format_time,
    parse_now,
    parse_state,
    seeded_store,
    state_specs,
)

__all__ = [  # with what tooling/expectations.py holds, re-exported
    "OUTCOMES", "RULE_VERDICTS", "RESERVED", "Case", "CaseResult", "CorpusError", "Expectation",
    "case_files", "case_problems", "describe_outcome", "explain_change", "hook_dirs",
    "iter_cases", "load_case", "load_policy", "render", "rule_lines", "run_case",
]  # fmt: skip

RESERVED = ("description", "expect", "facts", "now", "state", "judge")


@dataclass(frozen=True)
class Case:
    hook: str
    name: str
    path: Path
    facts: dict[str, Any]
    description: str | None = None
    expect: tuple[Expectation, ...] = ()
    now: float | None = None  # when the case runs (default DEFAULT_NOW)
    state: tuple[Entry, ...] = ()  # what the states held before it
    judge: Answers = ()  # what the judge answers (tooling/casejudge.py)

    @property
    def id(self) -> str:
        return f"{self.hook}/{self.name}"


@dataclass
class CaseResult:
    case: Case
    verdict: Verdict
    cpex: str | None = None  # the outcome through a real cpex manager
    problems: list[str] = field(default_factory=list)
    now: float | None = None  # the time it ran at, when it touched state or named one
    state: list[str] = field(default_factory=list)  # what the call read and updated


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
    unknown = DEFAULT_CATALOG.unknown_facts(hook, facts)
    if unknown:  # a misspelt fact would be recorded as the verdict without it
        raise CorpusError(f"{path}: " + "; ".join(unknown))
    expect = parse_expect(data.get("expect", []), path)
    description = data.get("description")
    try:
        now = parse_now(data["now"]) if "now" in data else None
        state = parse_state(data["state"]) if "state" in data else ()
        judge = parse_answers(data["judge"]) if "judge" in data else ()
    except (PriorStateError, ValueError) as err:
        raise CorpusError(f"{path}: {err}") from None
    return Case(
        hook=hook,
        name=path.stem,
        path=path,
        facts=facts,
        description=description if isinstance(description, str) else None,
        expect=expect,
        now=now,
        state=state,
        judge=judge,
    )


def load_policy(rules: Any, **options: Any) -> Policy:
    """The rules as the corpus runs them: on a `CaseStore`, so that every case starts
    from its own prior state (and stateless rules are unaffected), with a judge that
    gives each case's own answers."""
    options.setdefault("judge", CaseJudge())
    return load(rules, state=CaseStore(), **options)


def hook_dirs(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def case_files(hook_dir: Path) -> list[Path]:
    return sorted(p for p in hook_dir.glob("*.json") if p.is_file())


def iter_cases(corpus: Path) -> Iterator[tuple[str, Path]]:
    for hook_dir in hook_dirs(corpus):
        for path in case_files(hook_dir):
            yield hook_dir.name, path


# ---- running and rendering ----


def run_case(policy: Policy, case: Case, manager: Any = None) -> CaseResult:
    with answering(case.judge):
        return _run_case(policy, case, manager)


def _run_case(policy: Policy, case: Case, manager: Any) -> CaseResult:
    store = policy.state if isinstance(policy.state, CaseStore) else None
    runner = policy.compiled.runners.get(case.hook)
    stateful = runner is not None and runner.stateful
    if store is None and (stateful or case.state or case.now is not None):
        raise CorpusError(
            f"{case.path}: the rules keep state, so the corpus needs a policy from "
            "corpus.load_policy() (each case gets its own seeded store)"
        )
    now = case.now if case.now is not None else parse_now(DEFAULT_NOW)
    specs = state_specs(policy) if store is not None else {}

    def begin() -> None:  # a fresh store, seeded alike, for each run of the case
        if store is not None:
            try:
                store.begin(seeded_store(policy, case.state, now, specs), now)
            except PriorStateError as err:
                raise CorpusError(f"{case.path}: {err}") from None

    begin()
    verdict = policy.evaluate(case.hook, case.facts, now=now if store is not None else None)
    result = CaseResult(case, verdict)
    exchanged = store.exchanges if store is not None else []
    result.state = exchange_lines(exchanged)
    if exchanged or case.now is not None:
        result.now = now
    # an agent framework's own hook (Haystack's before_llm) never reaches a cpex
    # manager: running it there would only show an `allow` that no host gives
    if manager is not None and policy.catalog.in_cpex(case.hook):
        begin()
        result.cpex = asyncio.run(_through_cpex(manager, case))
        through_cpex = exchange_lines(store.exchanges) if store is not None else []
        _compare(result, verdict, through_cpex)
    for expectation in case.expect:
        problem = expectation.check(verdict)
        if problem:
            result.problems.append(problem)
    return result


def _compare(result: CaseResult, verdict: Verdict, through_cpex: list[str]) -> None:
    cpex = result.cpex or ""
    expected = describe_outcome(verdict)
    # a failing transform rule cannot block in cpex: it raises PluginError instead
    raised = cpex.startswith("raises") and verdict.code == ERROR_CODE
    if cpex.split(";")[0] != expected and not raised:
        result.problems.append(f"cpex and evaluate disagree: cpex {cpex!r}, evaluate {expected!r}")
    if through_cpex != result.state:
        result.problems.append(
            f"cpex and evaluate exchanged different state: cpex {through_cpex}, "
            f"evaluate {result.state}"
        )


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
    if result.now is not None:
        lines.append(f"now: {format_time(result.now)}")
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
        if rule.verdict == "record":  # its changes are the states it updated
            lines.append(f"{line} {', '.join(rule.changes)}")
            continue
        lines.append(line)
        lines.extend(f"    note: {note}" for note in rule.notes)
        for path in rule.changes:
            lines.append(f"    set {path} = {_value(_get(verdict.payload, path))}")
    if result.state:
        lines.append("state:")
        lines.extend(f"  {line}" for line in result.state)
    return "\n".join(lines)


def _get(facts: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        facts = facts.get(key) if isinstance(facts, dict) else None
    return facts


_RULE_LINE = re.compile(r"^\s+([\w:.-]+): (\w+)(.*)$")


def rule_lines(text: str) -> dict[str, str]:
    """rule id -> 'verdict [code ...]' from a snapshot text (old or new)."""
    out: dict[str, str] = {}
    for raw in _section(text, "rules:"):
        match = _RULE_LINE.match(raw)
        if match and match.group(1) not in (
            "case",
            "description",
            "outcome",
            "cpex",
            "set",
            "note",
        ):
            out[match.group(1)] = (match.group(2) + match.group(3)).strip()
    return out


def _section(text: str, title: str) -> list[str]:
    """The indented lines under `title` (all lines before any title, for old snapshots)."""
    lines = text.splitlines()
    if title not in lines:
        return lines if title == "rules:" else []
    body = lines[lines.index(title) + 1 :]
    end = next((i for i, ln in enumerate(body) if not ln.startswith(" ")), len(body))
    return body[:end]


def explain_change(case: Case, old: str, new: str) -> list[str]:
    """A minimal, readable diff of two snapshot texts: which rule's verdict changed,
    and what the call read or recorded differently."""
    before, after = rule_lines(old), rule_lines(new)
    lines = []
    for rule in sorted(set(before) | set(after)):
        if before.get(rule) != after.get(rule):
            lines.append(
                f"{case.id}: rule {rule}: expected {before.get(rule, '(absent)')!r}, "
                f"got {after.get(rule, '(absent)')!r}"
            )
    old_state, new_state = _section(old, "state:"), _section(new, "state:")
    if old_state != new_state:
        gone = [ln.strip() for ln in old_state if ln not in new_state]
        came = [ln.strip() for ln in new_state if ln not in old_state]
        lines.append(f"{case.id}: state: expected {gone}, got {came}")
    for head in ("outcome:", "cpex:", "now:"):
        was = next((ln for ln in old.splitlines() if ln.startswith(head)), "")
        got = next((ln for ln in new.splitlines() if ln.startswith(head)), "")
        if was != got and (head == "outcome:" or (was and got)):
            lines.append(f"{case.id}: {was.strip()!r} became {got.strip()!r}")
    return lines


def case_problems(result: CaseResult, text: str, matched: bool, recalled: str | None) -> list[str]:
    """Everything `guardrails test` fails a case on: its snapshot (`text`, the
    rendering now, did not match; `recalled`, the one stored, if any), its
    expectations, cpex and evaluate disagreeing. The pytest plugin and the console
    both judge a case here."""
    problems = list(result.problems)
    if not matched:
        case = result.case
        if recalled is None:
            problems.insert(0, f"{case.id}: no snapshot yet; run pytest --snapshot-update")
        else:
            problems[:0] = explain_change(case, recalled, text) or [
                f"{case.id}: the snapshot text changed"
            ]
    return problems
