"""The rollout dashboard's API on a log really written by a capturing policy: the
numbers of `report`, `promote` and `replay`, fires over time, users and tenants as
counts, and never a byte of payload text."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from guardrails.policy.policy import load
from guardrails.tooling.console.app import create_app
from guardrails.tooling.console.state import ConsoleState
from guardrails.tooling.console.timeline import Audience, Join, Timeline, identity
from guardrails.tooling.rollout import cases_from_log, promote, replay, report

from .rollout_traffic import CANDIDATE, RULES, SECRET, START, USERS, Sent, write_traffic

TOKEN = "test-token"


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> tuple[Path, Sent]:
    log = tmp_path_factory.mktemp("dash") / "decisions.jsonl"
    return log, write_traffic(log)


def client(rules: Path, *logs: Path) -> TestClient:
    state = ConsoleState(rules=rules, token=TOKEN, decisions=tuple(logs))
    return TestClient(
        create_app(state),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def get(api: TestClient, path: str, status: int = 200) -> dict:
    answer = api.get(path)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_summary_has_the_numbers_of_report_and_the_gate_of_promote(traffic):
    log, sent = traffic
    summary = get(client(RULES, log), "/api/dashboard/summary?max_rate=0.1&min_samples=300")
    rows = {r["rule"]: r for r in summary["rules"]}
    expected = {r.rule: r.to_dict() for r in report([log], load(RULES)).rules}
    for rule, row in expected.items():
        for key in ("hook", "evaluations", "skipped", "fires", "would_block", "block", "rate"):
            assert rows[rule][key] == row[key], (rule, key)
    assert rows["risky_shell"]["would_block"] == sent.risky
    assert rows["no_sudo"]["block"] == sent.sudo
    assert rows["budget"]["block"] == sent.over_budget
    assert summary["calls"] == {"generation_pre_call": sent.calls["model"],
                                "tool_pre_invoke": sent.calls["tool"]}  # fmt: skip
    assert rows["risky_shell"]["top_codes"] == [{"code": "RISKY_SHELL", "count": sent.risky}]
    # distinct callers among the calls it fired on: counts only
    assert rows["risky_shell"]["users"] == {"count": len(sent.risky_users), "at_least": False}
    assert rows["risky_shell"]["tenants"]["count"] == len(sent.risky_tenants)
    assert summary["audience"]["users"]["count"] == len(USERS)
    assert summary["audience"]["unattributed_fires"] == 0

    (gate,) = summary["gates"]  # risky_shell is the one audit rule
    cli = promote(RULES, "risky_shell", [log], 0.1, 300, dry_run=True)
    assert (gate["rule"], gate["evaluations"], gate["would_blocks"], gate["allowed"]) == (
        "risky_shell", cli.evaluations, cli.would_blocks, cli.allowed)  # fmt: skip
    assert gate["rate"] == pytest.approx(cli.rate)
    assert "--max-rate 0.1 --min-samples 300" in gate["command"]


def test_the_gate_follows_the_thresholds_given(traffic):
    log, _ = traffic
    api = client(RULES, log)
    strict = get(api, "/api/dashboard/gates?max_rate=0.001&min_samples=100000")
    (gate,) = strict["gates"]
    assert not gate["allowed"]
    cli = promote(RULES, "risky_shell", [log], 0.001, 100_000, dry_run=True)
    assert gate["reasons"] == cli.reasons and len(cli.reasons) == 2
    defaults = get(api, "/api/dashboard/gates")
    assert (defaults["max_rate"], defaults["min_samples"]) == (0.05, 100)
    for bad in ("max_rate=2", "max_rate=x", "min_samples=-1", "min_samples=1.5"):
        error = get(api, f"/api/dashboard/gates?{bad}", 400)["error"]
        assert error["code"] == "bad_threshold"


def test_fires_over_time_are_bucketed_by_the_logs_span(traffic):
    log, sent = traffic
    api = client(RULES, log)
    timeline = get(api, "/api/dashboard/timeline?rule=risky_shell")
    assert timeline["step"] == "1h"  # three days: 72 hourly buckets, under the cap
    assert len(timeline["buckets"]) == 72
    (series,) = timeline["series"]
    assert sum(series["would_block"]) == sent.risky
    # each would-block sits in the hour its call was made (not when the log was written)
    busy = {i for i, n in enumerate(series["would_block"]) if n}
    assert busy == sent.risky_hours
    assert sum(series["calls"]) == sent.calls["tool"]
    hour = min(busy)
    rate = series["would_block"][hour] / series["calls"][hour]
    assert series["rate"][hour] == pytest.approx(rate) and series["rate_of"] == "would_block"
    assert timeline["buckets"][0].startswith("20") and timeline["first"] == timeline["buckets"][0]
    everything = get(api, "/api/dashboard/timeline")
    assert {s["rule"] for s in everything["series"]} == {"budget", "no_sudo", "risky_shell"}
    assert get(api, "/api/dashboard/timeline?rule=nope", 404)["error"]["code"] == "no_rule"


def test_buckets_widen_exactly_and_stay_few():
    timeline = Timeline(max_buckets=50)
    moments = [START + i * 7.0 for i in range(1000)] + [START + 9 * 86400.0]
    for at in moments:
        timeline.call("h", at)
    buckets = timeline.buckets()
    assert timeline.step == 6 * 3600 and len(buckets) == 37  # 9 days; hours would be 217
    assert sum(timeline.calls["h"].values()) == len(moments)
    assert timeline.calls["h"][buckets[0]] == 1000  # the first 7000 s merged whole
    fine = Timeline()
    fine.call("h", START)
    fine.call("h", START + 30)
    assert fine.step == 1 and len(fine.buckets()) == 31


def test_a_decision_counts_at_its_calls_time_for_its_caller_either_order():
    timeline, audience = Timeline(), Audience()
    join = Join(timeline, audience)

    def call(cid: str, at: float, user: object) -> dict:
        stamp = f"2026-11-21T0{int(at)}:00:00+00:00"
        return {"kind": "call", "call_id": cid, "hook": "h", "timestamp": stamp,
                "facts": {"user": user, "tenant": "t"}}  # fmt: skip

    decision = {"kind": "decision", "rule": "r", "hook": "h", "verdict": "would_block",
                "timestamp": "2026-12-01T00:00:00+00:00"}  # fmt: skip
    join.add({**decision, "call_id": "a"})  # before its call record (Policy.evaluate)
    join.add(call("a", 1, "ann"))
    join.add(call("b", 2, {"id": "bob", "role": "admin"}))
    join.add({**decision, "call_id": "b"})  # after it (a cpex host)
    join.add(call("c", 3, {"__masked__": "sha256:abc", "length": 3}))
    join.add({**decision, "call_id": "c"})
    join.add({**decision, "call_id": "lost"})  # no call record in the log
    join.finish()
    fires = timeline.fires[("r", "h")]
    assert timeline.step == 6 * 3600  # Nov 21 to Dec 1 in at most 120 buckets

    def bucket(stamp: str) -> int:
        moment = int(datetime.datetime.fromisoformat(stamp).timestamp())
        return moment - moment % timeline.step

    # a, b, c at their calls' hours (one 6-hour bucket); the lost one at its own time
    assert fires == {bucket("2026-11-21T01:00:00+00:00"): 3, bucket("2026-12-01T00:00:00+00:00"): 1}
    assert audience.of("r", "h")["users"]["count"] == 3  # ann, bob by id, a masked one
    assert audience.unattributed == 1
    assert identity("ann") != "ann" and identity({"id": "bob", "x": 1}) == identity("bob")


def test_the_replay_panel_shows_what_the_candidate_newly_blocks(traffic):
    log, sent = traffic
    panel = get(client(CANDIDATE, log), "/api/dashboard/replay?examples=2")
    cli = replay(load(CANDIDATE), cases_from_log([log]))
    assert panel["changed"] == len(cli.changes) == sent.mid_budget
    assert (panel["cases"], panel["not_replayable"]) == (cli.cases, 0)
    (budget,) = panel["rules"]
    assert (budget["rule"], budget["newly_blocked"], budget["newly_allowed"]) == (
        "budget", sent.mid_budget, 0)  # fmt: skip
    assert len(budget["examples"]) == 2
    calls = {c.id for c in cases_from_log([log])}
    for example in budget["examples"]:
        assert example["call"] in calls and example["hook"] == "generation_pre_call"
        assert (example["before"], example["after"]) == ("allow", "block by budget code BUDGET")
        assert example["reason"] == "prompt over the 3000-token budget"
    same = get(client(RULES, log), "/api/dashboard/replay")
    assert same["changed"] == 0 and same["rules"] == []
    assert get(client(RULES, log), "/api/dashboard/replay?examples=99", 400)["error"]


def test_no_payload_text_leaves_the_dashboard(traffic):
    """The log holds SECRET (in the kept tool arguments, and hashed prompts) and the
    users' addresses; no endpoint sends any of it."""
    log, _ = traffic
    text = log.read_text()
    assert SECRET in text and USERS[0] in text  # the test would catch a leak
    for rules in (RULES, CANDIDATE):
        api = client(rules, log)
        for path in ("/api/dashboard/summary", "/api/dashboard/timeline",
                     "/api/dashboard/timeline?rule=risky_shell", "/api/dashboard/gates",
                     "/api/dashboard/replay?examples=20"):  # fmt: skip
            body = api.get(path).text
            assert SECRET not in body and "example.com" not in body, path
            assert "sha256:" not in body and "lorem" not in body, path


def test_what_the_dashboard_cannot_answer(traffic, tmp_path):
    log, _ = traffic
    bare = client(RULES)
    for path in ("summary", "timeline", "gates", "replay"):
        error = get(bare, f"/api/dashboard/{path}", 404)["error"]
        assert error["code"] == "no_decisions" and "--decisions" in error["message"]
    anonymous = TestClient(create_app(ConsoleState(RULES, TOKEN, (log,))),
                           base_url="http://127.0.0.1")  # fmt: skip
    assert anonymous.get("/api/dashboard/summary").status_code == 401
    # rules that do not load: the log's counts still, no gates, no replay
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "a.rules").write_text("rule oops on tool_pre_invoke when nosuch > 1 block\n")
    api = client(broken, log)
    summary = get(api, "/api/dashboard/summary")
    assert summary["gates"] == [] and "nosuch" in summary["rules_error"]
    assert {r["rule"] for r in summary["rules"]} == {"budget", "no_sudo", "risky_shell"}
    assert get(api, "/api/dashboard/replay", 422)["error"]["code"] == "rules_error"
    # torn and corrupt lines are skipped and counted, as `guardrails report` does
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(log.read_text() + "\x00garbage\n" + '{"kind": "call", "ho')
    counted = get(client(RULES, damaged), "/api/dashboard/summary")
    assert counted["skipped_lines"] == 2
    assert counted["damaged"] == {
        str(damaged): [len(log.read_text().splitlines()) + i for i in (1, 2)]
    }
    text = tmp_path / "notes.txt"
    text.write_text("not a log\n")
    error = get(client(RULES, text), "/api/dashboard/summary", 422)["error"]
    assert error["code"] == "unreadable_log" and "not a decision log" in error["message"]


def test_a_log_that_grows_is_read_again(traffic, tmp_path):
    log, _ = traffic
    copy = tmp_path / "growing.jsonl"
    copy.write_text(log.read_text())
    api = client(RULES, copy)
    before = get(api, "/api/dashboard/summary")["records"]
    lines = [json.loads(line) for line in log.read_text().splitlines()][:10]
    with copy.open("a") as fh:
        fh.writelines(json.dumps(line) + "\n" for line in lines)
    assert get(api, "/api/dashboard/summary")["records"] == before + 10


def test_the_playgrounds_edit_is_replayed_in_place_of_its_file(traffic):
    log, sent = traffic
    api = client(RULES, log)
    text = (RULES / "budget.rules").read_text().replace("tokens > 4000", "tokens > 3000")
    answer = api.post("/api/dashboard/replay", json={"file": "budget.rules", "text": text})
    assert answer.status_code == 200, answer.text
    panel = answer.json()
    assert panel["candidate"] == "edited" and panel["changed"] == sent.mid_budget
    assert [r["rule"] for r in panel["rules"]] == ["budget"]
    assert (RULES / "budget.rules").read_text() != text  # nothing written
    broken = api.post("/api/dashboard/replay", json={"file": "budget.rules", "text": "rule x"})
    assert broken.status_code == 422
    assert broken.json()["error"]["code"] == "rules_have_errors"
    assert broken.json()["diagnostics"][0]["code"].startswith("GR")
    missing = api.post("/api/dashboard/replay", json={"text": text})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing_field"


def test_an_edit_against_the_saved_rules_is_judged_alone_on_a_masked_log(traffic, tmp_path):
    """`replay --baseline` in the page: the rules have an injection rule reading the
    prompt, which the log masked. Against what the log recorded no model call can be
    replayed; against the saved rules the edited budget is judged on its own."""
    import shutil

    log, sent = traffic
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "inj.rules").write_text(
        'rule inj on generation_pre_call when prompt contains "ignore previous" block\n'
    )
    api = client(rules, log)
    text = (rules / "budget.rules").read_text().replace("tokens > 4000", "tokens > 3000")
    edit = {"file": "budget.rules", "text": text}

    recorded = api.post("/api/dashboard/replay", json=edit).json()
    assert recorded["baseline"] == "recorded"
    assert recorded["not_replayable"] == sent.calls["model"] and recorded["changed"] == 0
    assert recorded["missing"][0]["rule"] == "inj"

    saved = api.post("/api/dashboard/replay", json={**edit, "against": "rules"}).json()
    assert (saved["baseline"], saved["candidate"]) == ("rules", "edited")
    model = sent.calls["model"]
    assert (saved["not_replayable"], saved["judged_rule_by_rule"]) == (model, model)
    assert (saved["changed"], saved["rule_changed"]) == (0, sent.mid_budget)
    assert saved["not_replayable_for_changed_rules"] == {}
    (budget,) = saved["rules"]
    assert (budget["rule"], budget["rule_result"]) == ("budget", sent.mid_budget)
    example = budget["examples"][0]
    assert (example["kind"], example["hook"]) == ("rule_result", "generation_pre_call")
    assert (example["before"], example["after"]) == (
        "rule budget: pass",
        "rule budget: block BUDGET",
    )
    bad = api.post("/api/dashboard/replay", json={**edit, "against": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_against"
