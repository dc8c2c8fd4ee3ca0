"""What rules that remember cost: a stateful rule in memory and on loopback Redis,
against a stateless rule, from one run; and Redis round trips per hook call.

    python benchmarks/bench_state.py [--calls N] [--rounds R] [--redis URL]

The stateless case is one rule that passes (`tool.name == "send_email" and
user.tier == "blocked"`). The stateful case is the usual pair on one counter (one rule
adds 1, one reads the total against the limit, which is never reached), so each call
does the state exchange: the `add` worked out from the facts, the key encoded, the
store's read and update, the readings put where the reading rule finds them. Each is
timed as a whole hook call as cpex plugins run it (`HookRunner.run(detail=False)`)
and through `Policy.evaluate` (a result for every rule), with ratios to the
stateless rule at the same level. Targets: in memory <= 2x the stateless rule; on
Redis one round trip per hook call, with 1 or 5 stateful rules (counted on the
client's connection: commands sent; each waits for its reply).

Redis is a `redis-server` this script starts on a free loopback port (Debian:
apt-get install redis-server), or the server at `--redis`.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import measure, report

import guardrails
from guardrails.adapters.redis_store import RedisStore

STATELESS = """
rule no_blocked on tool_pre_invoke when tool.name == "send_email" and user.tier == "blocked"
  block code BLOCKED
"""
STATEFUL = """
counter emails per session limit 1000000000000
rule count on tool_pre_invoke when tool.name == "send_email" add 1 to emails
rule limit on tool_pre_invoke when tool.name == "send_email" and emails >= emails.limit
  block code EMAIL_LIMIT
"""
FACTS = {
    "tool": {"name": "send_email", "args": {"to": "a@b.c"}},
    "user": {"id": "u1", "tier": "x"},
    "session": "s-1",
}


def many(states: int) -> str:
    return "".join(
        f"counter c{i} per session every 1h limit 1000000000000\n"
        f"rule add{i} on tool_pre_invoke add 1 to c{i}\n"
        f"rule check{i} on tool_pre_invoke when c{i} >= c{i}.limit block code LIMIT{i}\n"
        for i in range(states)
    )


class Counting(redis.Connection):
    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)


def start_redis() -> tuple[subprocess.Popen[bytes], str, Path]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: apt-get install -y redis-server (or --redis URL)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    return proc, f"redis://127.0.0.1:{port}/0", workdir


def cases(policies: dict[str, guardrails.Policy], evaluate: bool) -> dict[str, Any]:
    out = {}
    for name, policy in policies.items():
        runner = policy.compiled.runners["tool_pre_invoke"]
        if evaluate:
            out[name] = lambda p=policy: p.evaluate("tool_pre_invoke", FACTS)
        else:
            out[name] = lambda r=runner: r.run(FACTS, detail=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", help="a Redis URL (default: start a redis-server)")
    args = parser.parse_args()
    proc = workdir = None
    url = args.redis
    if url is None:
        proc, url, workdir = start_redis()
    try:
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        policies = {
            "stateless rule": guardrails.loads(STATELESS, "s.rules"),
            "stateful, memory": guardrails.loads(STATEFUL, "m.rules"),
            "stateful, Redis (loopback)": guardrails.loads(
                STATEFUL, "r.rules", state=RedisStore.from_url(f"{url}?namespace={namespace}")
            ),
        }
        for policy in policies.values():
            verdict = policy.evaluate("tool_pre_invoke", FACTS)
            assert verdict.outcome == "allow" and all(r.error is None for r in verdict.rules)
        memory = {k: policies[k] for k in ("stateless rule", "stateful, memory")}
        remote = {k: policies[k] for k in ("stateless rule", "stateful, Redis (loopback)")}
        redis_calls = max(10, args.calls // 10)  # a round trip costs ~20x a memory exchange
        lean = measure(cases(memory, evaluate=False), args.calls, args.rounds)
        report(
            "one hook call, lean (HookRunner.run)", lean, "stateless rule",
            "memory <= 2x the stateless rule",
        )  # fmt: skip
        lean = measure(cases(remote, evaluate=False), redis_calls, args.rounds)
        report(f"one hook call, lean, {redis_calls} calls a round", lean, "stateless rule")
        ping = redis.Redis.from_url(url)
        lean = measure({"stateless rule": cases(remote, False)["stateless rule"],
                        "a bare PING (redis-py, same server)": ping.ping}, redis_calls,
                       args.rounds)  # fmt: skip
        report("the round trip itself", lean, "stateless rule")
        full = measure(cases(policies, evaluate=True), redis_calls, args.rounds)
        report(
            f"one hook call, Policy.evaluate, {redis_calls} calls a round", full, "stateless rule"
        )
        print("Redis round trips per hook call")
        for states in (1, 5):
            pool = redis.ConnectionPool.from_url(url, connection_class=Counting)
            store = RedisStore(redis.Redis(connection_pool=pool), f"{namespace}-{states}")
            policy = guardrails.loads(many(states), "n.rules", state=store)
            policy.evaluate("tool_pre_invoke", FACTS)  # loads the script on a new server
            Counting.sent = 0
            calls = 1000
            start = time.perf_counter_ns()
            for _ in range(calls):
                policy.evaluate("tool_pre_invoke", FACTS)
            per_call = (time.perf_counter_ns() - start) / calls / 1000
            print(
                f"    {states} stateful rule(s) ({2 * states} rules)"
                f"{'':<20} {Counting.sent / calls:5.2f} round trips/call   {per_call:6.1f} µs/call"
            )
            store.client.delete(*store.client.keys(f"{namespace}-{states}:*"))
        cleanup = redis.Redis.from_url(url)
        cleanup.delete(*cleanup.keys(f"{namespace}:*"))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(workdir, ignore_errors=True)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
