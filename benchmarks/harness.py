"""Timing helpers shared by the benchmarks: interleaved rounds, medians, ratios."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def per_call_ns(fn: Callable[[], object], calls: int) -> float:
    """Mean ns per call over one tight loop of `calls` calls (gc paused)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        return (time.perf_counter_ns() - start) / calls
    finally:
        if gc_was:
            gc.enable()


def measure(cases: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Median over `rounds` of each case's per-call time; cases interleave in every round."""
    for fn in cases.values():
        per_call_ns(fn, max(10, calls // 10))  # warm up
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(per_call_ns(fn, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def fmt_ns(ns: float) -> str:
    return f"{ns / 1000:8.2f} µs" if ns >= 1000 else f"{ns:8.0f} ns"


def report(title: str, results: dict[str, float], baseline: str, target: str = "") -> None:
    base = results[baseline]
    print(f"{title}" + (f"   (target: {target})" if target else ""))
    for name, ns in results.items():
        print(f"    {name:<44} {fmt_ns(ns)}   {ns / base:6.2f}x")
