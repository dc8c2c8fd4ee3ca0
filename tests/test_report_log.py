"""`guardrails report`: rates over the calls a rule ran on, and logs it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from guardrails.tooling.cli import main
from guardrails.tooling.rollout import report

H = "tool_pre_invoke"


def _decision(call: str, rule: str, verdict: str, mode: str, priority: int, line: int) -> dict:
    return {"kind": "decision", "rule": rule, "hook": H, "verdict": verdict, "mode": mode,
            "priority": priority, "location": f"a.rules:{line}", "call_id": call,
            "code": "X", "timestamp": "2026-11-21T06:00:00+00:00"}  # fmt: skip


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_rates_leave_out_the_calls_a_rule_was_skipped_on(tmp_path):
    """A cpex-shaped log: call records written before the rules ran (no outcome), so
    the blocker is the first blocking decision in cpex order."""
    calls = [{"kind": "call", "hook": H, "call_id": f"c{i}", "outcome": ""} for i in range(4)]
    log = _write(tmp_path / "d.jsonl", [
        *calls,
        _decision("c0", "first", "block", "sequential", 1, 1),
        _decision("c1", "first", "block", "sequential", 1, 1),
        _decision("c0", "tail", "warn", "fire_and_forget", 1, 9),  # runs after a block
        _decision("c2", "later", "warn", "concurrent", 5, 3),
        _decision("c3", "ignored", "error", "audit", 1, 7),  # an audit error blocks nothing
        _decision("c3", "later", "warn", "concurrent", 5, 3),
    ])  # fmt: skip
    rows = {r.rule: r for r in report([log]).rules}
    assert (rows["later"].evaluations, rows["later"].skipped) == (2, 2)
    assert rows["later"].rate == pytest.approx(2 / 2)  # was 2/4: it never saw c0, c1
    assert (rows["first"].evaluations, rows["tail"].evaluations) == (4, 4)
    assert rows["ignored"].evaluations == 2  # audit comes after sequential: skipped too
    out = CliRunner().invoke(main, ["report", str(log), "--format", "json"])
    later = next(r for r in json.loads(out.output)["rules"] if r["rule"] == "later")
    assert (later["evaluations"], later["skipped"], later["rate"]) == (2, 2, 1.0)


def test_an_unreadable_log_is_an_error_and_damage_inside_one_is_counted(tmp_path, monkeypatch):
    def run(*args: str):
        return CliRunner().invoke(main, ["report", *args])

    missing = run(str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 2 and "does not exist" in missing.output
    folder = run(str(tmp_path))
    assert folder.exit_code == 2 and "is a directory" in folder.output
    text = tmp_path / "notes.txt"
    text.write_text("hello\nworld\n")
    wrong = run(str(text))
    assert wrong.exit_code == 2
    assert "notes.txt is not a decision log: none of its 2 lines" in wrong.output
    rules = tmp_path / "r.rules"
    rules.write_text("rule r on tool_pre_invoke when tool.name == 'x' block\n")
    replayed = CliRunner().invoke(main, ["replay", str(rules), "--decisions", str(text)])
    assert replayed.exit_code == 2 and "is not a decision log" in replayed.output
    calls = [{"kind": "call", "hook": H, "call_id": f"c{i}", "outcome": ""} for i in range(3)]
    log = _write(tmp_path / "d.jsonl", calls)
    with log.open("a") as fh:
        fh.write("\x00\x00garbage\n")
        fh.write(json.dumps(calls[0]) + "\n")
        fh.write('{"kind": "call", "ho')  # torn last line
    damaged = run(str(log))
    assert damaged.exit_code == 0, damaged.output
    assert "4 records, 4 call records, 2 unreadable lines skipped" in damaged.output
    assert "d.jsonl: line 4, 6 not a record (torn or corrupt)" in damaged.output
    assert json.loads(run(str(log), "--format", "json").output)["damaged"] == {str(log): [4, 6]}

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)  # as root, chmod 000 cannot make one
    denied = run(str(log))
    assert denied.exit_code == 2
    assert f"cannot read decision log {log}: Permission denied" in denied.output
