"""`guardrails eval`: the facts it reads and the verdict it prints.

Colour comes from the caller as a `style` function, so this stays free of the
command-line library and a test can read the text with or without it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from ..diagnostics import GuardrailsError
from ..policy.policy import Policy
from ..runtime.verdict import Verdict
from .corpus import RESERVED
from .seeding import (
    CaseStore,
    PriorStateError,
    evaluate_on,
    exchange_lines,
    format_time,
    parse_now,
    parse_state,
    seeded_store,
)

Style = Callable[[str, str], str]  # (text, colour name) -> the text in that colour

VERDICT_COLOURS = {
    "block": "red",
    "error": "red",
    "would_block": "yellow",
    "warn": "yellow",
    "modify": "cyan",
    "pass": "green",
    "skipped": "bright_black",
    "record": "blue",
}
OUTCOME_COLOURS = {"block": "red", "modify": "cyan", "allow": "green"}


class PayloadError(GuardrailsError):
    """The payload given to `eval` is not a JSON object of facts."""


def read_facts(payload: IO[str]) -> dict[str, Any]:
    """The facts of a JSON payload: an object of facts, or a corpus case file."""
    return read_payload(payload)[0]


def read_payload(payload: IO[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The facts of a JSON payload (an object of facts, or a case file: a corpus case
    or one of examples/payloads/), and the case's `hook`, `now` and `state` when it
    gives them. A case file is recognised by its `facts` key among only case keys; a
    file with other keys beside `facts` is refused, not read as facts (the rules
    would see a fact named `facts`, and allow). Without `facts`, the case keys are
    taken out and the rest are the facts, as the corpus reads a case."""
    try:
        data = json.load(payload)
    except json.JSONDecodeError as err:
        raise PayloadError(f"payload is not valid JSON: {err}") from None
    except RecursionError:
        raise PayloadError("payload is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise PayloadError("payload must be a JSON object of facts")
    prior: dict[str, Any] = {}
    facts = data
    if "facts" not in data and _CASE_KEYS & set(data):
        # a corpus case without the `facts` wrapper: its case keys sit beside the facts
        facts = {k: v for k, v in data.items() if k not in _CASE_KEYS}
        prior = {k: data[k] for k in ("hook", "now", "state") if k in data}
    elif "facts" in data:
        extra = sorted(set(data) - _CASE_KEYS)
        if extra:
            raise PayloadError(
                f"payload has 'facts' beside {', '.join(map(repr, extra))}: a case file may "
                f"only hold {', '.join(sorted(_CASE_KEYS))}"
            )
        facts = data["facts"]  # a case file
        if not isinstance(facts, dict):
            raise PayloadError("the case's 'facts' must be a JSON object")
        prior = {k: data[k] for k in ("hook", "now", "state") if k in data}
    return facts, prior


# a corpus case's keys (the corpus reads them: one list for both), and the `hook` a
# case file outside a corpus names
_CASE_KEYS = frozenset({"hook", *RESERVED})


@dataclass
class Evaluation:
    verdict: Verdict
    read: dict[str, Any] = field(default_factory=dict)  # the state the rules read, by slot
    state: list[str] = field(default_factory=list)  # what the call read and recorded
    now: float | None = None  # the time it ran at, when it touched state or was given one


def evaluate(
    policy: Policy,
    hook: str,
    facts: Mapping[str, Any],
    prior: Mapping[str, Any],
    state_file: IO[str] | None = None,
    now: str | None = None,
) -> Evaluation:
    """One hook call on a fresh in-memory store, seeded with the prior state of the
    case file or `--state` file, at the case's or `--now` time (else the clock)."""
    raw_state, raw_now = prior.get("state"), prior.get("now")
    if state_file is not None:
        try:
            raw_state = json.load(state_file)
        except json.JSONDecodeError as err:
            raise PayloadError(f"--state is not valid JSON: {err}") from None
    if now is not None:
        raw_now = now
    try:
        moment = parse_now(raw_now) if raw_now is not None else time.time()
        entries = parse_state(raw_state) if raw_state is not None else ()
        store = CaseStore()
        store.begin(seeded_store(policy, entries, moment), moment)
    except PriorStateError as err:
        raise PayloadError(f"prior state: {err}") from None
    verdict, snap = evaluate_on(policy, hook, facts, store, moment)
    touched = exchange_lines(store.exchanges)
    shown = moment if touched or raw_now is not None else None
    return Evaluation(verdict, snap.values if snap else {}, touched, shown)


def format_state(evaluation: Evaluation) -> str:
    if not evaluation.state:
        return ""
    head = "state" + (f" at {format_time(evaluation.now)}" if evaluation.now else "")
    return "\n".join(
        [f"{head} (before -> after this call):"] + [f"  {ln}" for ln in evaluation.state]
    )


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
        if r.verdict == "record":  # its changes are the states it updated
            detail += " recorded " + ", ".join(r.changes)
        elif r.changes:
            detail += " changed " + ", ".join(r.changes)
        mark = paint(f"{r.verdict:<11}", VERDICT_COLOURS.get(r.verdict, "white"))
        lines.append(f"  {r.rule_id:<{width}}  {mark} {r.mode}/{r.priority}{detail}")
    return "\n".join(lines)
