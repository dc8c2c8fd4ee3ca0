"""W11: message edits (`append` a reminder, `replace` messages holding a key) on a
conversation, against hand-written Python doing the same, from one run.

    python benchmarks/bench_messages.py [--calls N] [--rounds R]

The conversation has N `{role, text}` messages (Haystack's rows), none holding a key,
so `replace` changes nothing and `append` adds one message: the common case before
an agent's LLM call. The hand-written baseline checks the reminder is not there yet,
searches every text with the same pattern (Python's `re`) and copies the list with
the reminder added; "ours" is the engine as hosts run it and `Policy.evaluate`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import measure, report

import guardrails
from guardrails.runtime.engine import HookRunner

REMINDER = "Answer only from the retrieved documents."
RULES = f"""
rule grounded on before_llm when lookup(tool_call_counts, "search", 0) > 0
  append {{"role": "system", "text": "{REMINDER}"}} to messages
rule keys on before_llm replace messages /sk-[A-Za-z0-9]{{20,}}/ with "[withheld]"
"""
KEY = re.compile(r"sk-[A-Za-z0-9]{20,}")


def by_hand(facts: dict[str, Any]) -> list[dict[str, Any]]:
    messages = facts["messages"]
    out = list(messages)
    for i, m in enumerate(messages):
        if m["text"] and KEY.search(m["text"]):
            out[i] = {"role": m["role"], "text": "[withheld]"}
    if facts["tool_call_counts"].get("search", 0) > 0 and not any(
        m["role"] == "system" and m["text"] == REMINDER for m in out
    ):
        out.append({"role": "system", "text": REMINDER})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    policy = guardrails.loads(RULES, "bench.rules")
    runner = HookRunner("before_llm", policy.programs("before_llm"))
    for n in (20, 200):
        messages = [
            {"role": ("user", "assistant", "tool")[i % 3], "text": f"message {i}: " + "x" * 80}
            for i in range(n)
        ]
        facts = {"tool_call_counts": {"search": 1}, "messages": messages}
        assert [m["text"] for m in policy.evaluate("before_llm", facts).payload["messages"]] == [
            m["text"] for m in by_hand(facts)
        ]
        calls = max(20, args.calls * 20 // n)
        cases = {
            "hand-written Python": lambda f=facts: by_hand(f),
            "ours: engine, lean (HookRunner.run)": lambda f=facts: runner.run(f, detail=False),
            "ours: Policy.evaluate": lambda f=facts: policy.evaluate("before_llm", f),
        }
        results = measure(cases, calls, args.rounds)
        report(f"W11 append + replace over {n} messages", results, "hand-written Python")


if __name__ == "__main__":
    main()
