"""W10: what a host function call costs a hook call, against the same test as a built-in.

    python benchmarks/bench_functions.py [--calls N] [--rounds R]

(a) `Policy.evaluate` of a rule testing `len(tool.name) > 3` (a built-in, inline);
(b) the same test through a sync host function `size(tool.name) > 3`: a worker thread
    runs it under its timeout while the rule waits;
(c) three rules asking (b)'s question: the first asks, the others hit the call cache;
(d) an async host function from a sync caller: a private event loop per call;
(e) (b)'s function marked `inline=True`: called in the rule's thread, no timeout.
Ratios are to (a), measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import measure, report

import guardrails

HOOK = "tool_pre_invoke"
FACTS = {"tool": {"name": "search", "args": {"q": "weather"}}}


def size(text: str) -> int:
    return len(text)


def size_inline(text: str) -> int:
    return len(text)


async def size_async(text: str) -> int:
    return len(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    builtin = guardrails.loads("on tool_pre_invoke when len(tool.name) > 3 warn\n")
    hosted = guardrails.loads(
        "on tool_pre_invoke when size(tool.name) > 3 warn\n", functions=[size]
    )
    cached = guardrails.loads(
        "".join(
            f"rule r{i} on tool_pre_invoke when size(tool.name) > {i + 3} warn\n" for i in range(3)
        ),
        functions=[size],
    )
    asynchronous = guardrails.loads(
        "on tool_pre_invoke when size(tool.name) > 3 warn\n", functions={"size": size_async}
    )
    inline = guardrails.loads(
        "on tool_pre_invoke when size(tool.name) > 3 warn\n",
        functions=[guardrails.function(size_inline, name="size", inline=True)],
    )
    assert asyncio.iscoroutinefunction(size_async)
    cases = {
        "(a) built-in len()": lambda: builtin.evaluate(HOOK, FACTS),
        "(b) sync host function": lambda: hosted.evaluate(HOOK, FACTS),
        "(c) three rules, one call (cached)": lambda: cached.evaluate(HOOK, FACTS),
        "(d) async host function, private loop": lambda: asynchronous.evaluate(HOOK, FACTS),
        "(e) inline sync host function": lambda: inline.evaluate(HOOK, FACTS),
    }
    results = measure(cases, args.calls, args.rounds)
    report("W10 host functions: Policy.evaluate per hook call", results, "(a) built-in len()")


if __name__ == "__main__":
    main()
