"""Decision records: what they hold, and sinks that never break or lose them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from datetime import datetime

import guardrails
from guardrails.records import JsonlSink, LoggingSink, MemorySink
from guardrails.records.recorder import Recorder

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
        "error", "changes", "ruleset", "timestamp", "request_id", "call_id", "notes",
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
        "from guardrails.records import JsonlSink\n"
        f"p = guardrails.loads({RULES!r}, sinks=[JsonlSink(sys.argv[1])])\n"
        "for _ in range(500): p.evaluate('generation_pre_call', {'tokens': 11})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    assert len(path.read_text().splitlines()) == 500


def test_logging_sink(caplog):
    policy = guardrails.loads(RULES, sinks=[LoggingSink()])
    with caplog.at_level(logging.INFO, logger="guardrails.decisions"):
        policy.evaluate("generation_pre_call", {"tokens": 11})
        policy.flush()  # logging handlers may block: the sink is fed off the hook call
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
    policy.flush()  # a custom sink is fed from the recorder's thread
    assert policy.recorder.dropped == 1
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
    from guardrails.records import read_records

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

    from guardrails.records import ReadStats, read_records

    path = tmp_path / "killed.jsonl"
    code = (
        "import guardrails, sys, time\n"
        "from guardrails.records import JsonlSink\n"
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


def _acknowledged_then_killed(path, sink_args: str, calls: int, facts: str) -> list[str]:
    """Run a process that prints each request id once its call has returned; kill -9 it
    as soon as `calls` calls are acknowledged. Returns every acknowledged request id."""
    import signal

    code = (
        "import guardrails, sys\n"
        "from guardrails.records import JsonlSink\n"
        f"p = guardrails.loads({RULES!r}, sinks=[JsonlSink(sys.argv[1]{sink_args})])\n"
        "i = 0\n"
        "while True:\n"
        f"    p.evaluate('generation_pre_call', {{{facts}, 'request_id': f'r{{i}}'}})\n"
        "    print(f'r{i}', flush=True)\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked = [proc.stdout.readline().strip() for _ in range(calls)]
    proc.send_signal(signal.SIGKILL)
    acked += proc.stdout.read().split()  # printed before the kill landed: acknowledged too
    proc.wait(timeout=10)
    assert acked[-1] == f"r{len(acked) - 1}"
    return acked


def test_every_acknowledged_block_survives_kill_9(tmp_path):
    from guardrails.records import read_records

    path = tmp_path / "acked.jsonl"
    acked = _acknowledged_then_killed(path, "", 300, "'tokens': 11")
    written = {r["request_id"] for r in read_records(path) if r["verdict"] == "block"}
    assert set(acked) <= written, sorted(set(acked) - written, key=lambda r: int(r[1:]))[:5]


def test_with_durable_all_every_acknowledged_record_survives_kill_9(tmp_path):
    from guardrails.records import read_records

    path = tmp_path / "all.jsonl"
    acked = _acknowledged_then_killed(path, ", durable='all'", 300, "'tokens': 7")
    written = {r["request_id"] for r in read_records(path) if r["verdict"] == "warn"}
    assert set(acked) <= written


def _stalled_sink(path, **kwargs):
    """A JsonlSink whose writer thread has stopped: only the calling thread writes."""
    from guardrails.records import sinks as records

    sink = JsonlSink(path, **kwargs)
    sink._queue.put(records._STOP)
    sink._thread.join(timeout=5)
    assert not sink._thread.is_alive()
    return sink


def test_durable_records_are_written_before_emit_returns(tmp_path):
    policy = guardrails.loads(RULES)
    blocked = policy.evaluate("generation_pre_call", {"tokens": 11}).records
    warned = policy.evaluate("generation_pre_call", {"tokens": 7}).records
    records = blocked + warned
    assert [r.verdict for r in records] == ["block", "warn", "would_block"]
    expected = {
        "blocks": {"block", "would_block"},
        "all": {"block", "warn", "would_block"},
        False: set(),
    }
    for durable, verdicts in expected.items():
        path = tmp_path / f"{durable}.jsonl"
        sink = _stalled_sink(path, durable=durable)
        for record in records:
            sink.emit(record)
        lines = path.read_text().splitlines()
        assert {json.loads(line)["verdict"] for line in lines} == verdicts, durable
        assert len(lines) == len([r for r in records if r.verdict in verdicts])


def test_durable_call_records_are_those_of_blocked_calls(tmp_path):
    from guardrails.records.capture import Capture

    path = tmp_path / "calls.jsonl"
    sink = _stalled_sink(path)
    policy = guardrails.loads(RULES, sinks=[sink], capture=Capture(facts=False))
    policy.evaluate("generation_pre_call", {"tokens": 11})
    policy.evaluate("generation_pre_call", {"tokens": 2})
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["outcome"] for r in written if r["kind"] == "call"] == ["block"]


def test_fsync_makes_each_durable_record_reach_the_disk(tmp_path, monkeypatch):
    import os

    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    sink = JsonlSink(tmp_path / "f.jsonl", fsync=True)
    policy = guardrails.loads(RULES, sinks=[sink])
    policy.evaluate("generation_pre_call", {"tokens": 11})  # block
    policy.evaluate("generation_pre_call", {"tokens": 7})  # warn, would_block
    assert synced == [sink._file.fileno()] * 2
    policy.close()


def test_durable_must_be_a_known_level(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="durable"):
        JsonlSink(tmp_path / "x.jsonl", durable="sometimes")  # type: ignore[arg-type]


class SlowSink:
    """A custom sink that takes a second per record (a remote collector, say)."""

    def __init__(self) -> None:
        self.records: list[object] = []
        self.threads: set[str] = set()
        self.flushed = 0

    def emit(self, record: object) -> None:
        time.sleep(1)
        self.records.append(record)
        self.threads.add(threading.current_thread().name)

    def flush(self) -> None:
        self.flushed = len(self.records)

    def close(self) -> None:
        pass


def test_a_slow_custom_sink_does_not_stall_the_call_and_flush_waits_for_it():
    slow, memory = SlowSink(), MemorySink()
    policy = guardrails.loads(RULES, sinks=[slow, memory])
    start = time.monotonic()
    verdict = policy.evaluate("generation_pre_call", {"tokens": 11})
    assert time.monotonic() - start < 0.5  # not the sink's second
    assert verdict.outcome == "block"
    assert memory.records == list(verdict.records)  # built-in in-memory sinks stay inline
    policy.flush()
    assert slow.records == list(verdict.records)
    assert slow.flushed == 1  # its own flush ran after its records
    assert threading.current_thread().name not in slow.threads
    policy.close()


class GatedSink:
    """A sink whose `emit` waits until the test opens the gate."""

    def __init__(self) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        self.records: list[object] = []

    def emit(self, record: object) -> None:
        self.entered.set()
        self.gate.wait()
        self.records.append(record)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_full_queue_drops_and_counts_records_instead_of_waiting():
    gated = GatedSink()
    recorder = Recorder([gated], max_pending=2)
    records = guardrails.loads(RULES).evaluate("generation_pre_call", {"tokens": 11}).records
    recorder.emit(records)  # taken by the sink's thread, which now waits at the gate
    assert gated.entered.wait(5)

    def burst() -> None:
        for _ in range(4):  # two fit in the queue, two do not
            recorder.emit(records)

    caller = threading.Thread(target=burst)
    caller.start()
    caller.join(timeout=5)
    assert not caller.is_alive()  # the caller never waited for the sink
    assert recorder.dropped == 2 * len(records)
    gated.gate.set()
    assert recorder.flush(timeout=5)
    assert len(gated.records) == 3 * len(records)


def test_deferred_sinks_get_their_records_at_exit_and_a_hung_one_cannot_hang_exit(tmp_path):
    out = tmp_path / "seen.txt"
    code = (
        "import guardrails, sys, threading, time\n"
        "from guardrails.records import recorder\n"
        "recorder.EXIT_TIMEOUT = 1.0\n"
        "class Slow:\n"
        "    def emit(self, record):\n"
        "        time.sleep(0.001)\n"
        "        with open(sys.argv[1], 'a') as fh: fh.write(record.rule + '\\n')\n"
        "    def flush(self): pass\n"
        "    def close(self): pass\n"
        "class Hung(Slow):\n"
        "    def emit(self, record): threading.Event().wait()\n"
        f"p = guardrails.loads({RULES!r}, sinks=[Hung(), Slow()])\n"
        "for _ in range(200): p.evaluate('generation_pre_call', {'tokens': 11})\n"
    )
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=30)
    assert time.monotonic() - start < 10  # the hung sink cost at most the exit timeout
    assert out.read_text().splitlines() == ["big"] * 200  # the other sink was not held back


def test_a_back_dated_call_stamps_its_decisions_with_its_own_time(tmp_path):
    """`evaluate(now=...)` (a replay, a test of a window) puts the call record and its
    decision records at the same time, so a dashboard's timeline is the call's."""
    log = tmp_path / "d.jsonl"
    policy = guardrails.loads(RULES, sinks=[JsonlSink(log)], capture=True)
    policy.evaluate("generation_pre_call", {"tokens": 11, "model_options": {}}, now=1.7e9)
    policy.close()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = sorted(r["kind"] for r in records)
    assert kinds == ["call", "decision"]  # big blocks
    assert {r["timestamp"] for r in records} == {"2023-11-14T22:13:20.000000+00:00"}
