"""Write a decision log of 1,000 made-up hook calls, as production would with capture.

    python examples/rollout/traffic.py decisions.jsonl

The walk-through in docs/rollout.md reads it: `guardrails report`, `replay` and
`promote` all run on this file. Prompts are masked in it, as by default: the log
holds their hash, length and token count, never their text.
"""

from __future__ import annotations

import sys
from pathlib import Path

import guardrails
from guardrails.records import JsonlSink

RULES = Path(__file__).resolve().parent / "rules"


def main(out: str) -> None:
    Path(out).unlink(missing_ok=True)
    policy = guardrails.load(RULES, sinks=[JsonlSink(out)], capture=True)
    # 600 model calls: 500 short prompts, 60 of 3,500 tokens, 40 of 5,000 (over budget)
    for chars, n in ((400, 500), (14_000, 60), (20_000, 40)):
        for i in range(n):
            prompt = f"request {i}: " + "lorem ipsum " * (chars // 12)
            policy.evaluate("generation_pre_call", {"prompt": prompt[:chars]})
    # 400 shell tool calls: 340 harmless, 20 recursive deletes, 40 with sudo
    for cmd, n in (("ls -l", 340), ("rm -rf build/", 20), ("sudo reboot", 40)):
        for _ in range(n):
            policy.evaluate("tool_pre_invoke", {"tool": {"name": "shell", "args": {"cmd": cmd}}})
    policy.close()
    print(f"wrote {out}: 1000 calls")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "decisions.jsonl")
