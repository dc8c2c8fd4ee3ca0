"""Corpus cases with prior state: seeding, independence, rendering and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrails.runtime.state import MemoryStore
from guardrails.tooling.corpus import (
    CorpusError,
    explain_change,
    load_case,
    load_policy,
    render,
    run_case,
)
from guardrails.tooling.seeding import CaseStore, parse_now, seeded_store

RULES = """
counter calls per user every 1h limit 3
counter mails per session, user limit 2
streak same per session of [tool.name, tool.args]

rule count on tool_pre_invoke  add 1 to calls
rule count_mail on tool_pre_invoke  when tool.name == "mail"  add 1 to mails
rule track_same on tool_pre_invoke  track same
rule hourly on tool_pre_invoke  when calls >= calls.limit
  block "{calls.limit} an hour; resets at {calls.resets_at}" code HOURLY
rule mail_cap on tool_pre_invoke  when tool.name == "mail" and mails >= mails.limit  block code MAILS
rule loop on tool_pre_invoke  when same >= 2  block code LOOP
"""
NOW = "2026-12-03T10:15:00Z"
CALL = {"user": "alice", "session": "s1", "tool": {"name": "search", "args": {"q": "x"}}}


@pytest.fixture
def policy(tmp_path):
    (tmp_path / "r.rules").write_text(RULES)
    return load_policy(tmp_path / "r.rules")


def case(tmp_path: Path, name: str, data: dict, hook: str = "tool_pre_invoke"):
    folder = tmp_path / "corpus" / hook
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return load_case(path, hook)


def test_a_seeded_counter_and_streak_decide_and_show_in_the_snapshot(policy, tmp_path):
    hourly = case(tmp_path, "hourly", {
        "now": NOW, "facts": CALL,
        "state": {"calls": [{"key": ["alice"], "value": 3}]},
    })  # fmt: skip
    result = run_case(policy, hourly)
    assert result.verdict.blocked_by == "hourly"
    assert result.verdict.reason == "3 an hour; resets at 2026-12-03T11:00:00Z"
    text = render(result)
    assert "now: 2026-12-03T10:15:00Z" in text
    assert "  count: record calls" in text and "  track_same: record same" in text
    assert 'state:\n  calls ["alice"]: 3 -> 4\n' in text
    assert 'same ["s1"]: 0 in a row -> 1' in text

    loop = case(tmp_path, "loop", {
        "now": NOW, "facts": CALL,
        "state": {"same": [{"key": ["s1"], "of": ["search", {"q": "x"}], "count": 2}]},
    })  # fmt: skip
    result = run_case(policy, loop)
    assert result.verdict.blocked_by == "loop"
    assert 'same ["s1"]: 2 in a row -> 3' in render(result)
    other = json.loads(json.dumps(loop.state[0].of))
    other[1]["q"] = "y"  # another value: the streak restarts
    assert run_case(policy, case(tmp_path, "other", {
        "now": NOW, "facts": CALL,
        "state": {"same": [{"key": ["s1"], "of": other, "count": 2}]},
    })).verdict.outcome == "allow"  # fmt: skip


def test_cases_are_independent_and_a_store_is_seeded_at_the_cases_time(policy, tmp_path):
    mail = {**CALL, "tool": {"name": "mail", "args": {}}}
    second = case(
        tmp_path,
        "second",
        {"facts": mail, "state": {"mails": [{"key": ["s1", "alice"], "value": 1}]}},
    )
    for _ in range(3):  # each run starts from the case's own state, not the last run's
        assert run_case(policy, second).verdict.outcome == "allow"
    store = policy.state
    assert isinstance(store, CaseStore)
    # the case's time is the store's clock: a call that gives no time (as a host
    # does) reads the window the case was seeded in, whatever the real time is
    now = parse_now(NOW)
    hourly = case(
        tmp_path, "h", {"state": {"calls": [{"key": ["alice"], "value": 3}]}, "facts": CALL}
    )
    store.begin(seeded_store(policy, hourly.state, now), now)
    assert policy.evaluate("tool_pre_invoke", CALL).blocked_by == "hourly"


def test_a_case_without_now_runs_at_a_fixed_time(policy, tmp_path):
    text = render(run_case(policy, case(tmp_path, "plain", {"facts": CALL})))
    assert "now: 2026-01-01T00:00:00Z" in text


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {"callz": [{"key": ["a"], "value": 1}]},
            "no rule reads or records a state named 'callz' (states: calls, mails, same)",
        ),
        (
            {"calls": [{"key": ["a", "b"], "value": 1}]},
            "state 'calls' is kept per user: its key has 1 value(s), this one has 2",
        ),
        (
            {"mails": [{"value": 1}]},
            "state 'mails' is kept per session, user: its key has 2 value(s), this one has 0",
        ),
        (
            {"same": [{"key": ["s1"], "count": 2}]},
            "streak 'same': give 'of' (the value its last calls had) and 'count'",
        ),
        (
            {"calls": [{"key": ["a"], "of": 1, "count": 2}]},
            "counter 'calls': give its total as 'value'",
        ),
    ],
)
def test_a_bad_prior_state_is_an_error_naming_the_case_file(policy, tmp_path, state, message):
    bad = case(tmp_path, "bad", {"facts": CALL, "state": state})
    with pytest.raises(CorpusError) as err:
        run_case(policy, bad)
    assert str(err.value).startswith(f"{bad.path}: ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"now": "2026-12-03T10:15:00"}, "'now' needs a time zone"),
        ({"now": "yesterday"}, "'now' is not an ISO 8601 time"),
        ({"state": [1]}, "'state' must be an object"),
        ({"state": {"calls": {"key": ["a"]}}}, "state 'calls': give a list of entries"),
        ({"state": {"calls": [{"key": "a", "value": 1}]}}, "'key' is a list"),
        ({"state": {"calls": [{"key": ["a"], "valu": 1}]}}, "unknown field 'valu'"),
        ({"state": {"calls": [{"key": ["a"], "value": "1"}]}}, "'value' must be a finite number"),
        (
            {"state": {"same": [{"key": ["a"], "of": 1, "count": -1}]}},
            "'count' must be a whole number",
        ),
    ],
)
def test_a_badly_shaped_case_is_an_error_naming_the_case_file(tmp_path, data, message):
    with pytest.raises(CorpusError) as err:
        case(tmp_path, "bad", {"facts": CALL, **data})
    assert str(err.value).startswith(str(tmp_path / "corpus" / "tool_pre_invoke" / "bad.json"))
    assert message in str(err.value)


def test_stateful_rules_need_the_corpus_policy(tmp_path):
    import guardrails

    (tmp_path / "r.rules").write_text(RULES)
    plain = guardrails.load(tmp_path / "r.rules")
    with pytest.raises(CorpusError, match=r"corpus\.load_policy"):
        run_case(plain, case(tmp_path, "c", {"facts": CALL}))


def test_a_changed_state_line_is_explained(policy, tmp_path):
    c = case(tmp_path, "c", {"facts": CALL, "state": {"calls": [{"key": ["alice"], "value": 1}]}})
    old = render(run_case(policy, c))
    new = old.replace('calls ["alice"]: 1 -> 2', 'calls ["alice"]: 1 -> 3')
    assert explain_change(c, old, new) == [
        "tool_pre_invoke/c: state: expected ['calls [\"alice\"]: 1 -> 2'], "
        "got ['calls [\"alice\"]: 1 -> 3']"
    ]


def test_memory_store_set_gives_counters_and_streaks_their_values():
    from guardrails.runtime.state import StateOp, StateSpec, encode_key, value_digest

    counter = StateSpec("c", "counter", 60.0, 60.0, None, "d1", ("user",))
    streak = StateSpec("s", "streak", None, 86400.0, None, "d2", ("session",))
    store = MemoryStore()
    store.set(counter, ("alice",), 7, now=125.0)
    store.set(streak, ("s1",), 2, now=125.0, of=["a", 1])
    same = value_digest((["a", 1],))
    ops = [
        StateOp(counter, encode_key(("alice",)), read=True),
        StateOp(streak, encode_key(("s1",)), read=True, value=same),
        StateOp(streak, encode_key(("s1",)), read=True, value=value_digest((["b"],))),
    ]
    assert [r.value for r in store.exchange(ops, 130.0)] == [7, 2, 0]
    assert store.exchange(ops[:1], 181.0)[0].value == 0  # the next minute's window


@pytest.mark.parametrize(
    ("facts", "hook", "message"),
    [
        (
            {"tol": {"name": "shell"}},
            "tool_pre_invoke",
            "'tol' is not a fact of tool_pre_invoke; did you mean 'tool'?",
        ),
        (
            {"tool": {"name": "shell"}},
            "generation_pre_call",
            "'tool' is not a fact of generation_pre_call",
        ),
    ],
)
def test_a_case_with_a_fact_its_hook_does_not_have_is_an_error(tmp_path, facts, hook, message):
    """A misspelt fact is never read, and the case would be recorded as a pass."""
    with pytest.raises(CorpusError) as err:
        case(tmp_path, "typo", {"facts": facts}, hook)
    assert message in str(err.value)
    assert case(tmp_path, "fine", {"facts": {"tool": {"name": "x"}, "request_id": "r"}})
