"""Decision records: what they hold, and sinks that never break or lose them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from datetime import datetime

import guardrails
from guardrails.runtime.records import JsonlSink, LoggingSink, MemorySink, Recorder

RULES = """
rule big on generation_pre_call priority 1 when tokens > 10 block "too big" code BIG
rule warmish on generation_pre_call priority 2 when tokens > 5 warn "warm" code WARM
rule quiet on generation_pre_call priority 3 when tokens > 1000 warn
rule shadow_me on generation_pre_call mode audit when tokens > 5 block "shadow" code SHADOW
rule fix on generation_pre_call mode transform when model_options.t > 1 set model_options.t = 1
"""


def test_one_record_per_rule_that_fired_with_all_fields():
    sink = MemorySink()
    policy = guardrails.loads(RULES, "rec.rules", sinks=[sink])
    verdict = policy.evaluate(
        "generation_pre_call", {"tokens": 7, "request_id": "abc", "model_options": {"t": 3}}
    )
    records = sink.records
    assert records == list(verdict.records)
    assert [(r.rule, r.verdict, r.code) for r in records] == [
        ("warmish", "warn", "WARM"),
        ("fix", "modify", None),
        ("shadow_me", "would_block", "SHADOW"),
    ]
    warm = records[0]
    assert warm.location == "rec.rules:3"
    assert (warm.hook, warm.mode, warm.priority) == ("generation_pre_call", "sequential", 2)
    assert warm.ruleset == policy.ruleset_hash and warm.request_id == "abc"
    assert datetime.fromisoformat(warm.timestamp).tzinfo is not None
    assert records[1].changes == ("model_options.t",)
    assert set(warm.to_dict()) == {
        "kind", "rule", "location", "hook", "mode", "priority", "verdict", "code", "reason",
        "error", "changes", "ruleset", "timestamp", "request_id", "call_id",
    }  # fmt: skip


def test_blocks_and_errors_are_recorded_and_passes_are_not():
    sink = MemorySink()
    policy = guardrails.loads(RULES, sinks=[sink])
    policy.evaluate("generation_pre_call", {"tokens": 2})
    assert sink.records == []
    policy.evaluate("generation_pre_call", {"tokens": 11})
    assert [(r.rule, r.verdict) for r in sink.records] == [("big", "block")]
    sink.clear()
    policy.evaluate("generation_pre_call", {"tokens": "eleven"})
    assert [(r.rule, r.verdict) for r in sink.records] == [("big", "error")]
    assert "tokens must be a non-negative number" in sink.records[0].error


def test_ruleset_hash_is_stable_across_processes(tmp_path):
    rules = tmp_path / "r.rules"
    rules.write_text(RULES)
    code = "import guardrails, sys; print(guardrails.load(sys.argv[1]).ruleset_hash)"
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code, str(rules)], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(hashes) == 1


def test_jsonl_sink_writes_every_record_from_many_threads(tmp_path):
    path = tmp_path / "decisions" / "log.jsonl"
    sink = JsonlSink(path)
    policy = guardrails.loads(RULES, sinks=[sink])

    def work() -> None:
        for _ in range(250):
            policy.evaluate("generation_pre_call", {"tokens": 11})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    policy.flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 1000
    assert all(json.loads(line)["rule"] == "big" for line in lines)
    policy.close()
    policy.close()  # idempotent


def test_jsonl_records_survive_interpreter_exit_without_explicit_flush(tmp_path):
    path = tmp_path / "exit.jsonl"
    code = (
        "import guardrails, sys\n"
        "from guardrails.runtime.records import JsonlSink\n"
        f"p = guardrails.loads({RULES!r}, sinks=[JsonlSink(sys.argv[1])])\n"
        "for _ in range(500): p.evaluate('generation_pre_call', {'tokens': 11})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    assert len(path.read_text().splitlines()) == 500


def test_logging_sink(caplog):
    policy = guardrails.loads(RULES, sinks=[LoggingSink()])
    with caplog.at_level(logging.INFO, logger="guardrails.decisions"):
        policy.evaluate("generation_pre_call", {"tokens": 11})
    (entry,) = caplog.records
    assert json.loads(entry.getMessage())["code"] == "BIG"


class ExplodingSink:
    def emit(self, record: object) -> None:
        raise OSError("disk full")

    def flush(self) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        raise OSError("disk full")


def test_a_failing_sink_never_breaks_evaluation_or_other_sinks():
    good = MemorySink()
    policy = guardrails.loads(RULES, sinks=[ExplodingSink(), good])
    verdict = policy.evaluate("generation_pre_call", {"tokens": 11})
    assert verdict.outcome == "block"
    assert len(good.records) == 1
    assert policy.recorder.dropped == 1
    policy.flush()
    policy.close()


def test_jsonl_sink_survives_write_errors(tmp_path):
    sink = JsonlSink(tmp_path / "x.jsonl")
    sink._file.close()  # simulate the file going away under the writer
    recorder = Recorder([sink])
    policy = guardrails.loads(RULES)
    recorder.emit(policy.evaluate("generation_pre_call", {"tokens": 11}).records)
    sink.flush()
    assert sink.write_errors >= 1


def test_memory_sink_can_be_bounded():
    sink = MemorySink(maxlen=3)
    policy = guardrails.loads(RULES, sinks=[sink])
    for _ in range(10):
        policy.evaluate("generation_pre_call", {"tokens": 11})
    assert len(sink.records) == 3


def test_verdict_to_dict_includes_records():
    policy = guardrails.loads(RULES)
    data = policy.evaluate("generation_pre_call", {"tokens": 11}).to_dict()
    assert [r["rule"] for r in data["records"]] == ["big"]
    json.dumps(data)


def test_jsonl_rotates_by_size(tmp_path):
    from guardrails.runtime.records import read_records

    path = tmp_path / "d.jsonl"
    sink = JsonlSink(path, max_bytes=2000, backups=3)
    policy = guardrails.loads(RULES, sinks=[sink])
    for _ in range(60):
        policy.evaluate("generation_pre_call", {"tokens": 11})
    policy.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["d.jsonl", "d.jsonl.1", "d.jsonl.2", "d.jsonl.3"]  # the oldest rotated away
    assert sink.rotations >= 3
    for name in files:
        assert (tmp_path / name).stat().st_size <= 2000 + 600  # one record past the limit at most
        assert all(r["rule"] == "big" for r in read_records(tmp_path / name))


def test_records_survive_a_killed_process_and_the_reader_tolerates_a_torn_line(tmp_path):
    import signal
    import time as _time

    from guardrails.runtime.records import ReadStats, read_records

    path = tmp_path / "killed.jsonl"
    code = (
        "import guardrails, sys, time\n"
        "from guardrails.runtime.records import JsonlSink\n"
        f"p = guardrails.loads({RULES!r}, sinks=[JsonlSink(sys.argv[1])])\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    p.evaluate('generation_pre_call', {'tokens': 11})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    _time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with path.open("a") as fh:  # and a line torn in half, as a kill mid-write leaves
        fh.write('{"rule": "big", "verdict": "blo')
    stats = ReadStats()
    records = list(read_records(path, stats))
    assert len(records) > 100
    assert all(r["rule"] == "big" and r["verdict"] == "block" for r in records)
    assert stats.skipped == [stats.records + len(stats.skipped)]  # only the torn last line
