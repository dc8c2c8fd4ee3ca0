"""Replaying rules with state: calls in the order and at the time they were made,
through a fresh store; report and promote with rules that only record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import guardrails
from guardrails.diagnostics import GuardrailsError
from guardrails.records import JsonlSink
from guardrails.records.capture import Capture
from guardrails.runtime.state import MemoryStore
from guardrails.tooling.rollout import promotion
from guardrails.tooling.rollout.counts import format_report, report
from guardrails.tooling.rollout.replays import (
    cases_from_corpus,
    cases_from_log,
    format_replay,
    replay,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = """
counter emails per session every 1h limit 5
rule count_emails on tool_pre_invoke when tool.name == "send_email" add 1 to emails
rule email_limit on tool_pre_invoke
  when tool.name == "send_email" and emails >= emails.limit
  block "at most {emails.limit} emails an hour" code EMAIL_LIMIT
"""
HOUR = 3600.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % HOUR  # the start of an hour


def email(n: int) -> dict:
    return {"session": "s1", "tool": {"name": "send_email", "args": {"n": n}}}


def write_log(tmp_path: Path, times: list[float]) -> tuple[Path, Path]:
    """Real calls through a capturing policy, then the log's lines in reverse order
    (several writers, a merged log): only their times tell the order they came in."""
    rules = tmp_path / "r.rules"
    rules.write_text(RULES)
    log = tmp_path / "decisions.jsonl"
    sink = JsonlSink(log)
    live = guardrails.load(rules, sinks=[sink], capture=Capture(mask=()))
    for n, at in enumerate(times, 1):
        live.evaluate("tool_pre_invoke", email(n), now=at)
    sink.close()
    # a blocked call's records are written at once, the others by the sink's thread:
    # put them in the order the calls came, then turn that around
    lines = sorted(log.read_text().splitlines(), key=lambda ln: json.loads(ln)["timestamp"])
    log.write_text("\n".join(reversed(lines)) + "\n")
    return rules, log


def outcomes(cases) -> list[tuple[int, str]]:
    return [(c.facts["tool"]["args"]["n"], c.recorded[0]) for c in cases]


def test_the_sixth_email_replays_blocked_only_in_order_and_at_its_time(tmp_path):
    rules, log = write_log(tmp_path, [T0 + 60 * i for i in range(6)])
    cases = cases_from_log([log])
    assert outcomes(cases) == [(1, "allow"), (2, "allow"), (3, "allow"), (4, "allow"),
                               (5, "allow"), (6, "block")]  # fmt: skip
    live = MemoryStore()
    candidate = guardrails.load(rules, state=live)
    result = replay(candidate, list(reversed(cases)))  # given out of order: replay sorts
    assert (result.cases, result.changes) == (6, [])
    assert len(live) == 0  # the policy's own store is never touched

    # the control: in the log's file order, the first call read would be the one blocked
    naive = guardrails.load(rules)
    file_order = [json.loads(ln)["facts"] for ln in log.read_text().splitlines()
                  if json.loads(ln).get("kind") == "call"]  # fmt: skip
    verdicts = [naive.evaluate("tool_pre_invoke", f, now=T0).outcome for f in file_order]
    assert verdicts == ["allow"] * 5 + ["block"] and file_order[5]["tool"]["args"]["n"] == 1

    # a candidate with a lower limit blocks from the 5th email on, as it would have
    lower = tmp_path / "lower.rules"
    lower.write_text(RULES.replace("limit 5", "limit 4"))
    changed = replay(guardrails.load(lower), cases)
    assert [(c.kind, c.case) for c in changed.changes] == [("newly_blocked", cases[4].id)]


def test_time_is_kept_an_email_in_the_next_hour_is_allowed(tmp_path):
    times = [T0 + 60 * i for i in range(5)] + [T0 + HOUR + 1]
    rules, log = write_log(tmp_path, times)
    cases = cases_from_log([log])
    assert outcomes(cases)[-1] == (6, "allow")
    assert replay(guardrails.load(rules), cases).changes == []  # not blocked at replay time


def test_calls_not_replayed_that_would_record_state_are_counted(tmp_path):
    rules = "counter used per user\nrule count on generation_post_call add tokens(output) to used\n"
    path = tmp_path / "r.rules"
    path.write_text(rules + "rule cap on generation_pre_call when used > 10 block\n")
    log = tmp_path / "log.jsonl"
    sink = JsonlSink(log)
    live = guardrails.load(path, sinks=[sink], capture=True)  # output is masked
    live.evaluate("generation_post_call", {"user": "a", "output": "x" * 400}, now=T0)
    live.evaluate("generation_pre_call", {"user": "a", "prompt": "hi"}, now=T0 + 1)
    sink.close()
    result = replay(guardrails.load(path), cases_from_log([log]))
    assert (result.cases, result.not_replayable, result.state_gaps) == (1, 1, 1)
    assert "1 of the calls not replayed would have updated state" in format_replay(result)


def test_a_corpus_replays_each_case_from_its_own_prior_state(tmp_path):
    policies = ROOT / "examples" / "policies"
    cases = cases_from_corpus(policies / "corpus")
    baseline = guardrails.load(policies)
    same = replay(guardrails.load(policies), cases, baseline)
    assert same.cases == len(cases) and same.changes == []
    for path in policies.glob("*.rules"):
        text = path.read_text()
        (tmp_path / path.name).write_text(
            text.replace("per user, session limit 5", "per user, session limit 6")
        )
    changed = replay(guardrails.load(tmp_path), cases, baseline)
    assert [(c.kind, c.case) for c in changed.changes] == [
        ("newly_allowed", "tool_pre_invoke/email_limit_6th_email"),
        ("newly_allowed", "tool_pre_invoke/email_limit_without_session"),
    ]


def test_report_and_promote_with_rules_that_only_record(tmp_path):
    rules = tmp_path / "r.rules"
    rules.write_text(
        "counter calls per user\n"
        "rule count on tool_pre_invoke mode audit add 1 to calls\n"
        "rule cap on tool_pre_invoke mode audit when calls >= 2 block code CAP\n"
    )
    log = tmp_path / "log.jsonl"
    sink = JsonlSink(log)
    live = guardrails.load(rules, sinks=[sink], capture=True)
    for i in range(3):
        live.evaluate("tool_pre_invoke", {"user": "a", "tool": {"name": "t"}}, now=T0 + i)
    sink.close()
    with log.open("a") as f:  # a writer that logs `record` verdicts: not fires
        f.write(json.dumps({"kind": "decision", "rule": "count", "hook": "tool_pre_invoke",
                            "verdict": "record", "timestamp": "2027-01-15T08:00:00+00:00"}) + "\n")  # fmt: skip
    rep = report([log], guardrails.load(rules))
    stats = {s.rule: s for s in rep.rules}
    assert stats["cap"].fired == 1 and stats["count"].fired == 0
    text = format_report(rep)
    assert "never fired (dead or untested): " not in text
    assert "only record state (never in decision records): count" in text
    with pytest.raises(GuardrailsError, match="only records state"):
        promotion.promote(rules, "count", [log], 1.0, 1)
    assert promotion.promote(rules, "cap", [log], 0.5, 3, dry_run=True).allowed
