"""Every benchmark, one after the other, each in its own process:

    python benchmarks/run.py            # W1-W8 and the hostile-regex check (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer calls, for a smoke run
    python benchmarks/run.py bench_eval bench_cpex    # only these scripts (here W1-W5)

See docs/performance.md for what each workload measures and the targets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv
    runs = [
        ["bench_eval.py", *(["--calls", "2000", "--rounds", "3"] if quick else [])],
        ["bench_cpex.py", *(["--calls", "500", "--rounds", "3"] if quick else [])],
        ["bench_load.py"],
        ["bench_regex.py"],
        ["bench_report.py", *(["--records", "100000"] if quick else [])],
        ["bench_records.py", *(["--calls", "2000", "--rounds", "3"] if quick else [])],
        ["bench_state.py", *(["--calls", "2000", "--rounds", "3"] if quick else [])],
        ["bench_messages.py", *(["--calls", "500", "--rounds", "3"] if quick else [])],
        ["bench_functions.py", *(["--calls", "1000", "--rounds", "3"] if quick else [])],
        ["bench_detectors.py", *(["--rounds", "1"] if quick else [])],
        ["bench_lsp.py", *(["--rounds", "3"] if quick else [])],
        [
            "bench_hosts.py",
            *(["--runs", "100", "--calls", "100", "--rounds", "3"] if quick else []),
        ],
    ]
    only = {a.removesuffix(".py") for a in sys.argv[1:] if not a.startswith("-")}
    runs = [run for run in runs if not only or run[0].removesuffix(".py") in only]
    status = 0
    for script, *args in runs:
        print(f"\n$ python benchmarks/{script} {' '.join(args)}".rstrip(), flush=True)
        status |= subprocess.run(
            [sys.executable, str(HERE / script), *args], check=False
        ).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
