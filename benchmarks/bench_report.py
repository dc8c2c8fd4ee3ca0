"""`guardrails report` on 1,000,000 generated records: time and peak memory.

    python benchmarks/bench_report.py [--records N]

Writes a decision log (call records and decision records for 50 rules over 3 hooks,
as JsonlSink would), then times `rollout.report` in process (with tracemalloc for the
peak) and `guardrails report` as a command. Target: under 10 s for 1M records.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from guardrails.tooling.rollout import report

HOOKS = ["generation_pre_call", "tool_pre_invoke", "generation_post_call"]


def generate(path: Path, n: int) -> None:
    rng = random.Random(7)
    with path.open("w") as fh:
        for i in range(n):
            hook = HOOKS[i % 3]
            stamp = f"2026-11-21T06:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}000+00:00"
            if i % 4 == 0:
                record = {"kind": "call", "hook": hook, "ruleset": "r" * 64, "timestamp": stamp,
                          "call_id": f"{i:016x}", "outcome": "allow", "facts": {"prompt": {"__masked__": "sha256:0", "length": 10}}}  # fmt: skip
            else:
                rule = f"rule_{rng.randrange(50)}"
                verdict = rng.choice(["block", "would_block", "warn", "modify", "error"])
                record = {"kind": "decision", "rule": rule, "hook": hook, "verdict": verdict,
                          "code": f"CODE_{rule[-1]}", "timestamp": stamp, "mode": "audit",
                          "call_id": f"{i - i % 4:016x}", "ruleset": "r" * 64}  # fmt: skip
            fh.write(json.dumps(record, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    n = parser.parse_args().records
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "decisions.jsonl"
        generate(log, n)
        size = log.stat().st_size / 1e6
        start = time.perf_counter()
        rep = report([log])
        seconds = time.perf_counter() - start
        assert rep.records == n
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "guardrails", "report", str(log), "--no-progress"],
                       check=True, capture_output=True)  # fmt: skip
        cli = time.perf_counter() - start
        peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB -> MB
    print(f"report on {n:,} records ({size:.0f} MB of JSON Lines)   (target: < 10 s)")
    print(f"    in process: {seconds:6.2f} s ({n / seconds / 1e6:.2f} M records/s)")
    print(
        f"    `guardrails report` command: {cli:6.2f} s wall, peak RSS {peak_rss:.0f} MB (whole process)"
    )


if __name__ == "__main__":
    main()
