"""A decision log the dashboard's tests read: examples/rollout/rules/ really run, with
capture, over three days of made-up traffic at chosen times, by a dozen users of
three tenants. Prompts (masked by the capture) and some shell commands (kept: tool
arguments are not masked) carry SECRET, which the dashboard must never send.

`write_traffic` returns what was sent, so a test can count what the log must show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import guardrails
from guardrails.records import JsonlSink

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rollout" / "rules"
CANDIDATE = ROOT / "examples" / "rollout" / "candidate"  # the budget lowered to 3000 tokens
SECRET = "TOPSECRET-7f3a9"
HOUR = 3600.0
START = 1_795_000_000.0 - 1_795_000_000.0 % 86400  # a midnight, UTC
USERS = [f"user{n:02d}@example.com" for n in range(12)]
TENANTS = ["acme", "globex", "initech"]


@dataclass
class Sent:
    """What the traffic held: calls per hook, and per rule the calls it fires on."""

    calls: dict[str, int] = field(default_factory=lambda: {"tool": 0, "model": 0})
    sudo: int = 0
    risky: int = 0
    over_budget: int = 0  # over 4000 tokens: blocked by the recorded rules
    mid_budget: int = 0  # 3000..4000 tokens: newly blocked by the candidate
    risky_users: set[str] = field(default_factory=set)
    risky_tenants: set[str] = field(default_factory=set)
    risky_hours: set[int] = field(default_factory=set)  # hours since START


def write_traffic(log: Path, hours: int = 72, seed: int = 21) -> Sent:
    pick = random.Random(seed)
    sent = Sent()
    policy = guardrails.load(RULES, sinks=[JsonlSink(log)], capture=True)
    for hour in range(hours):
        busy = 6 + (8 if 8 <= hour % 24 < 20 else 0)  # a working day's shape
        for n in range(busy):
            at = START + hour * HOUR + n * (HOUR / busy)
            user, tenant = pick.choice(USERS), pick.choice(TENANTS)
            context = {"user": user, "tenant": tenant}
            roll = pick.random()
            # recursive deletes grow on the second day: what the plot is for
            risky_odds = 0.02 if hour < 24 else 0.08
            if roll < 0.06:
                cmd, sent.sudo = "sudo reboot", sent.sudo + 1
            elif roll < 0.06 + risky_odds:
                cmd, sent.risky = f"rm -rf /srv/{SECRET}", sent.risky + 1
                sent.risky_users.add(user)
                sent.risky_tenants.add(tenant)
                sent.risky_hours.add(hour)
            else:
                cmd = pick.choice(["ls -l", "git status", f"cat notes-{SECRET}.txt"])
            tool = {"tool": {"name": "shell", "args": {"cmd": cmd}}}
            policy.evaluate("tool_pre_invoke", {**tool, **context}, now=at)
            sent.calls["tool"] += 1
            size = pick.random()
            chars = 20_000 if size < 0.04 else 14_000 if size < 0.10 else 400
            sent.over_budget += chars == 20_000
            sent.mid_budget += chars == 14_000
            prompt = (f"{SECRET} " + "lorem ipsum " * (chars // 12))[:chars]
            policy.evaluate("generation_pre_call", {"prompt": prompt, **context}, now=at + 1)
            sent.calls["model"] += 1
    policy.close()
    return sent
