"""Hostile regex input: rules match on RE2, so time stays linear in the text.

    python benchmarks/bench_regex.py

Times a rule `output matches /(a+)+$/` (plus two other classic ReDoS shapes) on
1 MB of hostile input, against Python's backtracking `re` on inputs of only a few
dozen characters, measured in the same run. Target: <= 10 ms per 1 MB call.
"""

from __future__ import annotations

import re
import statistics
import time

import guardrails

PATTERNS = [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$", r"(a+a+)+b"]


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    hostile = "a" * 1_000_000 + "!"
    print("ReDoS patterns on hostile input   (target: <= 10 ms per call on 1 MB)")
    for pattern in PATTERNS:
        policy = guardrails.loads(
            f"rule r on generation_post_call when output matches /{pattern}/ block",
            max_match_chars=2_000_000,
        )
        facts = {"output": hostile}
        assert policy.evaluate("generation_post_call", facts).rule("r").verdict == "pass"
        ours = timed(lambda: policy.evaluate("generation_post_call", facts))  # noqa: B023
        compiled = re.compile(pattern)
        small = {}
        for n in (18, 20, 22):
            text = "a" * n + "!"
            small[n] = timed(lambda: compiled.search(text), repeat=1)  # noqa: B023
        print(
            f"    /{pattern}/  rules (RE2), 1 MB: {ours * 1000:7.2f} ms   |   Python re: "
            + ", ".join(f"{n} chars {t * 1000:8.1f} ms" for n, t in small.items())
        )


if __name__ == "__main__":
    main()
