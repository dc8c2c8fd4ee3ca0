"""Rollout tools on generated decision logs: capture and masking, report, replay, promote."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from cpex.framework import GlobalContext, ToolPreInvokePayload

import guardrails
from guardrails.records import JsonlSink, MemorySink, read_records
from guardrails.records.capture import Capture
from guardrails.tooling.rollout import cases_from_corpus, cases_from_log, replay, report

logging.getLogger("cpex").setLevel(logging.ERROR)

RULES = """# budget rules, with comments that promotion must keep
rule budget on generation_pre_call priority 10
  when tokens > 100 block "too long" code BUDGET

# a new rule, in shadow first
rule long_words on generation_pre_call
  mode audit   # promote me when the rate is known
  when prompt contains "supercalifragilistic" block "odd word" code ODD

rule never on tool_pre_invoke when tool.name == "nothing-calls-this" block
"""
SECRET = "my password is hunter2 supercalifragilistic"


def write_log(
    tmp: Path, capture: Capture | bool = True, n_odd: int = 3, n_long: int = 2, n_plain: int = 15
) -> tuple[Path, Path]:
    rules = tmp / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "budget.rules").write_text(RULES)
    log = tmp / "decisions.jsonl"
    policy = guardrails.load(rules, sinks=[JsonlSink(log)], capture=capture)
    for _ in range(n_odd):
        policy.evaluate("generation_pre_call", {"prompt": SECRET})
    for _ in range(n_long):
        policy.evaluate("generation_pre_call", {"prompt": "x" * 500})
    for i in range(n_plain):
        policy.evaluate("generation_pre_call", {"prompt": f"plain prompt {i}"})
    policy.close()
    return rules, log


def test_call_records_mask_text_by_default(tmp_path):
    _, log = write_log(tmp_path)
    text = log.read_text()
    assert "hunter2" not in text and "supercalifragilistic" not in text
    calls = [r for r in read_records(log) if r["kind"] == "call"]
    assert len(calls) == 20
    decisions = [r for r in read_records(log) if r["kind"] == "decision"]
    assert {d["call_id"] for d in decisions} <= {c["call_id"] for c in calls}
    odd = {d["call_id"] for d in decisions if d["code"] == "ODD"}  # blocks are written first
    prompt = next(c["facts"]["prompt"] for c in calls if c["call_id"] in odd)
    assert prompt["__masked__"].startswith("sha256:") and prompt["length"] == len(SECRET)


def test_capture_configuration_masks_drops_and_keeps():
    sink = MemorySink()
    policy = guardrails.loads(
        RULES, sinks=[sink], capture=Capture(mask=("user.email",), drop=("secret",))
    )
    policy.evaluate(
        "generation_pre_call", {"prompt": "p", "user": {"email": "a@b.c", "role": "x"}, "secret": 1}
    )
    (call,) = sink.calls
    assert call.facts["prompt"] == "p"
    assert call.facts["user"]["role"] == "x" and "__masked__" in call.facts["user"]["email"]
    assert "secret" not in call.facts
    counts_only = MemorySink()
    guardrails.loads(RULES, sinks=[counts_only], capture=Capture(facts=False)).evaluate(
        "generation_pre_call", {"prompt": "p"}
    )
    assert counts_only.calls[0].facts is None
    nothing = MemorySink()
    guardrails.loads(RULES, sinks=[nothing]).evaluate("generation_pre_call", {"prompt": "p"})
    assert nothing.calls == []  # capture is opt-in


def test_report_counts_rates_and_never_fired(tmp_path):
    rules, log = write_log(tmp_path)
    rep = report([log], guardrails.load(rules))
    rows = {(r.rule, r.hook): r for r in rep.rules}
    odd = rows[("long_words", "generation_pre_call")]
    # the 2 calls budget blocked skipped long_words (audit runs after sequential)
    assert (odd.evaluations, odd.skipped, odd.fires["would_block"]) == (18, 2, 3)
    assert odd.rate == pytest.approx(3 / 18) and odd.codes["ODD"] == 3
    assert report([log]).rules == rep.rules[: len(report([log]).rules)]  # same from the log
    budget = rows[("budget", "generation_pre_call")]
    assert (budget.fires["block"], budget.rate) == (2, pytest.approx(2 / 20))
    never = rows[("never", "tool_pre_invoke")]
    assert (never.fired, never.evaluations, never.rate) == (0, 0, None)
    assert odd.first is not None and odd.first <= odd.last
    assert rep.calls == {"generation_pre_call": 20}


def test_report_cli_text_json_and_torn_lines(tmp_path):
    rules, log = write_log(tmp_path)
    with log.open("a") as fh:
        fh.write('{"kind": "decision", "rule": "bud')  # a torn last line
    out = subprocess.run([sys.executable, "-m", "guardrails", "report", str(log), "--rules", str(rules)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "never fired (dead or untested): never" in out
    assert "1 unreadable lines skipped" in out
    row = next(line for line in out.splitlines() if line.startswith("long_words"))
    assert "16.67%" in row and "ODD" in row
    data = json.loads(subprocess.run([sys.executable, "-m", "guardrails", "report", str(log), "--format", "json"],
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert data["calls"] == {"generation_pre_call": 20}


def test_replay_against_the_recorded_outcomes(tmp_path):
    rules, log = write_log(tmp_path, capture=Capture(mask=()))
    candidate = guardrails.loads(RULES.replace("tokens > 100", "tokens > 3"))
    result = replay(candidate, cases_from_log([log]))
    # hand count: 15 plain prompts of 15-16 chars are 4 tokens > 3 -> newly blocked;
    # the 3 odd prompts (43 chars, 11 tokens) too; the 2 long ones were blocked already
    assert result.cases == 20 and result.not_replayable == 0
    kinds = sorted(c.kind for c in result.changes)
    assert kinds == ["newly_blocked"] * 18
    assert result.by_rule() == {"budget": {"newly_blocked": 18}}
    looser = replay(
        guardrails.loads(RULES.replace("tokens > 100", "tokens > 1000")), cases_from_log([log])
    )
    assert sorted(c.kind for c in looser.changes) == ["newly_allowed", "newly_allowed"]
    same = replay(guardrails.load(rules), cases_from_log([log]))
    assert same.changes == []


def test_replay_skips_calls_whose_read_facts_are_masked(tmp_path):
    _, log = write_log(tmp_path)  # prompt masked: every budget/long_words case reads it
    result = replay(guardrails.loads(RULES), cases_from_log([log]))
    assert (result.cases, result.not_replayable) == (0, 20)


def test_replay_cli_with_baseline_and_corpus(tmp_path):
    rules, log = write_log(tmp_path, capture=Capture(mask=()))
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "budget.rules").write_text(RULES.replace("tokens > 100", "tokens > 3"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "guardrails", "replay", *args], capture_output=True, text=True
        )

    changed = run(str(candidate), "--decisions", str(log))
    assert changed.returncode == 1 and "newly_blocked 18" in changed.stdout
    assert run(str(rules), "--decisions", str(log)).returncode == 0
    assert (
        run(str(candidate), "--decisions", str(log), "--baseline", str(candidate)).returncode == 0
    )
    corpus = tmp_path / "corpus" / "generation_pre_call"
    corpus.mkdir(parents=True)
    (corpus / "short.json").write_text('{"facts": {"prompt": "abcdefghijklmnop"}}')
    data = json.loads(
        run(
            str(candidate),
            "--corpus",
            str(tmp_path / "corpus"),
            "--baseline",
            str(rules),
            "--format",
            "json",
        ).stdout
    )
    assert data["changed"] == 1 and data["changes"][0]["kind"] == "newly_blocked"
    assert len(cases_from_corpus(tmp_path / "corpus")) == 1
    assert (
        run(str(candidate), "--corpus", str(tmp_path / "corpus")).returncode == 2
    )  # needs --baseline


def test_promote_gates_and_rewrites_only_the_mode(tmp_path):
    rules, log = write_log(tmp_path)
    source = rules / "budget.rules"
    before = source.read_text()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "guardrails", "promote", "long_words", "--rules", str(rules),
                               "--decisions", str(log), *args], capture_output=True, text=True)  # fmt: skip

    too_high = run("--max-rate", "0.10", "--min-samples", "10")
    assert too_high.returncode == 1 and "16.67% is over --max-rate 10.00%" in too_high.stdout
    too_few = run("--max-rate", "0.5", "--min-samples", "100")
    assert too_few.returncode == 1 and "only 18 evaluations" in too_few.stdout
    dry = run("--max-rate", "0.2", "--min-samples", "10", "--dry-run")
    assert (
        dry.returncode == 0
        and "-  mode audit   # promote me" in dry.stdout
        and "+  mode sequential   # promote me" in dry.stdout
    )
    assert source.read_text() == before
    done = run("--max-rate", "0.2", "--min-samples", "10")
    assert done.returncode == 0
    after = source.read_text()
    assert after == before.replace("mode audit   # promote me", "mode sequential   # promote me")
    policy = guardrails.load(rules)
    assert {r.id: r.mode for r in policy.rules}["long_words"] == "sequential"
    again = run("--max-rate", "0.2", "--min-samples", "10")
    assert again.returncode == 2 and "not in audit mode" in again.stderr


def test_cpex_capture_links_decisions_to_one_call_record(tmp_path):
    sink = MemorySink()
    policy = guardrails.loads(
        "rule a on tool_pre_invoke priority 1 when tool.name == 'x' warn\n"
        "rule b on tool_pre_invoke priority 2 mode audit when tool.name == 'x' block\n",
        sinks=[sink], capture=True,
    )  # fmt: skip

    async def call() -> None:
        manager = await policy.manager()
        await manager.invoke_hook(
            "tool_pre_invoke",
            ToolPreInvokePayload(name="x", args={"k": "v"}),
            GlobalContext(request_id="r"),
        )

    asyncio.run(call())
    (record,) = sink.calls
    assert record.facts == {"tool": {"name": "x", "args": {"k": "v"}}}
    assert {d.call_id for d in sink.records} == {record.call_id}
    assert sorted(d.rule for d in sink.records) == ["a", "b"]
    cases = cases_from_log([])
    assert cases == []


def test_otel_metrics_sink_counts_fires_calls_and_latency():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from guardrails.adapters.otel import OtelMetricsSink

    reader = InMemoryMetricReader()
    sink = OtelMetricsSink(MeterProvider(metric_readers=[reader]))
    policy = guardrails.loads(RULES, sinks=[sink], capture=Capture(facts=False))
    for prompt in ("x" * 500, "x" * 500, SECRET, "plain"):
        policy.evaluate("generation_pre_call", {"prompt": prompt})
    policy.flush()  # a sink that is not inline counts from the recorder's thread
    points: dict[str, dict[tuple, float]] = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    key = tuple(sorted(point.attributes.items()))
                    points.setdefault(metric.name, {})[key] = (
                        getattr(point, "value", None) or point.count
                    )
    fires = {
        dict(k)["rule"] + "/" + dict(k)["verdict"]: v
        for k, v in points["guardrails.rule.fires"].items()
    }
    assert fires == {"budget/block": 2, "long_words/would_block": 1}
    calls = {dict(k)["outcome"]: v for k, v in points["guardrails.hook.calls"].items()}
    assert calls == {"block": 2, "allow": 2}
    (count,) = points["guardrails.hook.duration"].values()
    assert count == 4


def test_metrics_cost_nothing_unless_used():
    code = "import sys, guardrails; guardrails.loads('on generation_pre_call block'); print('opentelemetry' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


HOSTILE = "\x1b[2J\r\x07\u202e\x9b"  # clear screen, carriage return, bell, bidi override, CSI


def _hostile_log(path: Path) -> None:
    call_id = f"call{HOSTILE}"
    lines = [
        {"kind": "call", "hook": "generation_pre_call", "call_id": call_id, "outcome": "block",
         "timestamp": f"2026-11-21T06:00:00{HOSTILE}", "facts": {"tokens": 1}},
        {"kind": "decision", "rule": f"règle_日本{HOSTILE}", "hook": f"generation_pre_call{HOSTILE}",
         "verdict": "block", "code": f"CODE{HOSTILE}", "reason": f"why{HOSTILE}",
         "timestamp": f"2026-11-21{HOSTILE}", "call_id": call_id, "mode": "sequential"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _assert_terminal_safe(out: str) -> None:
    bad = [c for c in out if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F
           or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"]  # fmt: skip
    assert not bad, bad


def test_report_and_replay_escape_control_characters_from_the_log(tmp_path):
    log = tmp_path / "hostile.jsonl"
    _hostile_log(log)
    rules = tmp_path / "r.rules"
    rules.write_text("rule r on generation_pre_call when tokens > 1000 block\n")

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "guardrails", *args], capture_output=True)
        assert done.returncode in (0, 1), done.stderr
        return done.stdout.decode()  # bytes as written: no newline translation of "\r"

    text = run("report", str(log))
    _assert_terminal_safe(text)
    assert "règle_日本\\x1b[2J\\r\\x07\\u202e\\x9b" in text  # visible, and Unicode kept
    assert "CODE\\x1b[2J" in text and "generation_pre_call\\x1b[2J" in text
    as_json = run("report", str(log), "--format", "json")
    _assert_terminal_safe(as_json)
    assert json.loads(as_json)["rules"][0]["rule"] == f"règle_日本{HOSTILE}"  # exact in JSON
    replayed = run("replay", str(rules), "--decisions", str(log))
    _assert_terminal_safe(replayed)
    assert "newly_allowed: call\\x1b[2J" in replayed and "code CODE\\x1b[2J" in replayed
    replayed_json = run("replay", str(rules), "--decisions", str(log), "--format", "json")
    _assert_terminal_safe(replayed_json)
    assert json.loads(replayed_json)["changes"][0]["case"] == f"call{HOSTILE}"


def test_printable_escapes_controls_and_bidi_and_keeps_text():
    from guardrails.tooling.terminal import printable

    assert (
        printable("a\x00b\tc\nd\x1b[31m\x7f\x85\x9b") == "a\\x00b\\tc\\nd\\x1b[31m\\x7f\\x85\\x9b"
    )
    assert printable("\u202eabc\u2066\u200f\u2028") == "\\u202eabc\\u2066\\u200f\\u2028"
    kept = "é 日本 😀 👩\u200d💻 \\x1b"
    assert printable(kept) == kept


def test_conversation_text_is_masked_by_default_on_every_hook_that_carries_it():
    """A rule that reads `messages` must not put the conversation in the log."""
    sink = MemorySink()
    policy = guardrails.loads(
        'on agent_pre_invoke when messages[0].content contains "zz" block\n',
        sinks=[sink],
        capture=True,
    )
    policy.evaluate(
        "agent_pre_invoke",
        {"messages": [{"role": "user", "content": SECRET}], "system_prompt": SECRET},
    )
    (call,) = sink.calls
    assert SECRET not in json.dumps(call.facts)
    assert "__masked__" in call.facts["messages"] and "__masked__" in call.facts["system_prompt"]
