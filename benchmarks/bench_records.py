"""What durable decision records cost, per blocked call.

    python benchmarks/bench_records.py [--calls N] [--rounds R]

One `block` rule, called through `policy.evaluate` on facts that it blocks, with no
sink (the baseline), with `JsonlSink(durable=False)` (every record through the
writer thread), and with the default `JsonlSink()` (`durable="blocks"`: the block
record written and flushed before the call returns). Two figures per case, medians
of interleaved rounds in one run: the latency the caller sees, and the whole cost
including the writer thread's work (calls, then `flush()`), which competes with the
caller for the GIL. `fsync=True` is timed apart, on fewer calls: its cost is the
disk's, not ours.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

from harness import fmt_ns, report

import guardrails
from guardrails.records import JsonlSink

RULES = 'rule big on generation_pre_call when tokens > 10 block "too big" code BIG\n'
FACTS = {"tokens": 11, "request_id": "bench"}


def timed(policy: guardrails.Policy, calls: int) -> tuple[float, float]:
    """ns per call: (the calls alone, the calls and the flush that writes their records)."""
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(calls):
            policy.evaluate("generation_pre_call", FACTS)
        returned = time.perf_counter_ns()
        policy.flush()  # also keeps one case's backlog out of the next case's timing
        flushed = time.perf_counter_ns()
    finally:
        gc.enable()
    return (returned - start) / calls, (flushed - start) / calls


def interleaved(
    policies: dict[str, guardrails.Policy], calls: int, rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    for policy in policies.values():
        timed(policy, max(10, calls // 10))  # warm up
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in policies}
    for _ in range(rounds):
        for name, policy in policies.items():
            samples[name].append(timed(policy, calls))
    latency = {name: statistics.median(s[0] for s in runs) for name, runs in samples.items()}
    total = {name: statistics.median(s[1] for s in runs) for name, runs in samples.items()}
    return latency, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policies = {
            "no sink": guardrails.loads(RULES),
            "JsonlSink(durable=False)": guardrails.loads(
                RULES, sinks=[JsonlSink(Path(tmp) / "async.jsonl", durable=False)]
            ),
            'JsonlSink() (durable="blocks")': guardrails.loads(
                RULES, sinks=[JsonlSink(Path(tmp) / "blocks.jsonl")]
            ),
        }
        assert policies["no sink"].evaluate("generation_pre_call", FACTS).outcome == "block"
        latency, total = interleaved(policies, args.calls, args.rounds)
        report("blocked call, latency seen by the caller", latency, "no sink")
        report("blocked call, including the writer thread (calls + flush)", total, "no sink")
        synced = guardrails.loads(RULES, sinks=[JsonlSink(Path(tmp) / "fsync.jsonl", fsync=True)])
        calls = max(10, args.calls // 100)
        fsync_ns = statistics.median(timed(synced, calls)[1] for _ in range(args.rounds))
        print(
            f'    JsonlSink(fsync=True) (durable="blocks")   {fmt_ns(fsync_ns)}   '
            f"{fsync_ns / total['no sink']:6.2f}x   ({calls} calls; depends on the disk)"
        )
        for policy in [*policies.values(), synced]:
            policy.close()


if __name__ == "__main__":
    main()
