"""State in a real Redis (tests/redis_server.py): shared by every policy naming it,
atomic under concurrency, one round trip per hook call, failing closed while Redis is
down or hung, and serving again once it is back."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from typing import Any

import pytest
import redis

import guardrails
from guardrails.adapters.redis_store import DEFAULT_TIMEOUT, RedisStore
from guardrails.diagnostics import GuardrailsError
from guardrails.runtime.state import StateError, StateOp, StateSpec

from .redis_server import RedisServer

EMAILS = """
counter emails_sent per user limit {limit}
rule count_emails on tool_pre_invoke when tool.name == "send_email" add 1 to emails_sent
rule email_limit on tool_pre_invoke
  when tool.name == "send_email" and emails_sent >= emails_sent.limit
  block "at most {{emails_sent.limit}} emails" code EMAIL_LIMIT
"""


def email(user: str = "u1") -> dict[str, Any]:
    return {"tool": {"name": "send_email", "args": {}}, "user": {"id": user}}


def url(server: RedisServer, **query: str) -> str:
    query.setdefault("namespace", f"t-{uuid.uuid4().hex[:8]}")
    return server.url + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_two_policies_share_one_budget_and_threads_cannot_overspend_it(redis_server):
    where = url(redis_server)
    replicas = [  # no time budget: threads kept from the GIL must not become budget errors
        guardrails.loads(EMAILS.format(limit=25), "e.rules", state=where, time_budget_ms=None)
        for _ in "ab"
    ]
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer(i: int) -> None:
        policy = replicas[i % 2]
        start.wait()
        for _ in range(10):
            verdict = policy.evaluate("tool_pre_invoke", email())
            with lock:
                outcomes.append(verdict.code or verdict.outcome)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("allow") == 25 and outcomes.count("EMAIL_LIMIT") == 55
    # every call counted, blocked or not, and the other user's budget is untouched
    store = replicas[0].state
    assert isinstance(store, RedisStore)
    verdict = replicas[1].evaluate("tool_pre_invoke", email("u2"))
    assert verdict.outcome == "allow"
    counts = sorted(float(v) for k in store.client.keys(f"{store.namespace}:*")
                    for v in [store.client.hget(k, "v")])  # fmt: skip
    assert counts == [1.0, 80.0]


def test_namespaces_keep_rulesets_apart(redis_server):
    first, second = url(redis_server), url(redis_server)
    a = guardrails.loads(EMAILS.format(limit=1), "e.rules", state=first)
    b = guardrails.loads(EMAILS.format(limit=1), "e.rules", state=second)
    assert a.evaluate("tool_pre_invoke", email()).outcome == "allow"
    assert b.evaluate("tool_pre_invoke", email()).outcome == "allow"
    assert a.evaluate("tool_pre_invoke", email()).code == "EMAIL_LIMIT"


class Counting(redis.Connection):
    """Counts the commands this client sends: with no pipelining, one each way."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)


def evalsha_calls(server: RedisServer) -> int:
    stats = redis.Redis(port=server.port).info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


@pytest.mark.parametrize("states", [1, 5])
def test_a_hook_call_is_one_round_trip_however_many_stateful_rules(redis_server, states):
    rules = "".join(
        f"counter c{i} per user every 1h limit 100\n"
        f"rule add{i} on tool_pre_invoke add 1 to c{i}\n"
        f"rule check{i} on tool_pre_invoke when c{i} >= c{i}.limit block code LIMIT{i}\n"
        for i in range(states)
    )
    pool = redis.ConnectionPool(connection_class=Counting, port=redis_server.port)
    store = RedisStore(redis.Redis(connection_pool=pool), f"t-{uuid.uuid4().hex[:8]}")
    policy = guardrails.loads(rules, "c.rules", state=store)
    policy.evaluate("tool_pre_invoke", email(), now=1e9)  # the first call may load the script
    Counting.sent, before = 0, evalsha_calls(redis_server)
    for _ in range(7):
        verdict = policy.evaluate("tool_pre_invoke", email(), now=1e9)
        assert verdict.outcome == "allow"
        assert [r.verdict for r in verdict.rules] == ["record", "pass"] * states
    assert Counting.sent == 7
    assert evalsha_calls(redis_server) - before == 7
    # and every call updated every state
    keys = store.client.keys(f"{store.namespace}:*")
    assert len(keys) == states and all(float(store.client.hget(k, "v")) == 8 for k in keys)


def test_calls_fail_closed_while_redis_is_down_and_are_served_when_it_is_back(tmp_path):
    server = RedisServer().start()
    try:
        where = url(server)
        strict = guardrails.loads(EMAILS.format(limit=2), "e.rules", state=where)
        lenient = guardrails.loads(
            EMAILS.format(limit=2).replace("on tool_pre_invoke", "on tool_pre_invoke on_error ignore"),
            "e.rules", state=where,
        )  # fmt: skip
        assert strict.evaluate("tool_pre_invoke", email()).outcome == "allow"
        server.stop()
        down = strict.evaluate("tool_pre_invoke", email())
        assert down.outcome == "block" and down.code == "GUARDRAIL_ERROR"
        errors = {r.rule_id: r.error or "" for r in down.rules if r.verdict == "error"}
        assert list(errors) == ["count_emails"]  # the first error blocks; no rule runs on
        assert (
            "unreachable" in errors["count_emails"] and str(server.port) in errors["count_emails"]
        )
        # rules that say `on_error ignore` let calls through while Redis is away
        ignored = lenient.evaluate("tool_pre_invoke", email())
        assert ignored.outcome == "allow"
        assert [r.verdict for r in ignored.rules] == ["error", "error"]
        server.start()  # same port, empty (nothing is saved)
        back = [strict.evaluate("tool_pre_invoke", email()).outcome for _ in range(3)]
        assert back == ["allow", "allow", "block"]
        server.stop()
        server.start()  # restarted between calls: the pool's dead connection is replaced
        assert strict.evaluate("tool_pre_invoke", email()).outcome == "allow"
    finally:
        server.close()


def test_a_hung_redis_times_out_instead_of_hanging_the_call(redis_server):
    store = RedisStore.from_url(url(redis_server, timeout="0.2"))
    policy = guardrails.loads(EMAILS.format(limit=5), "e.rules", state=store)
    assert policy.evaluate("tool_pre_invoke", email()).outcome == "allow"
    assert redis_server.proc is not None
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        hung = policy.evaluate("tool_pre_invoke", email())
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert hung.outcome == "block" and hung.code == "GUARDRAIL_ERROR"
    assert any("did not answer in time" in (r.error or "") for r in hung.rules)
    assert policy.evaluate("tool_pre_invoke", email()).outcome == "allow"


def test_store_urls():
    store = RedisStore.from_url("redis://127.0.0.1:1/3?namespace=shop&timeout=0.5")
    kwargs = store.client.connection_pool.connection_kwargs
    assert store.namespace == "shop" and kwargs["db"] == 3
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.5
    default = RedisStore.from_url("redis://127.0.0.1:1")
    assert default.namespace == "guardrails"
    assert default.client.connection_pool.connection_kwargs["socket_timeout"] == DEFAULT_TIMEOUT
    for bad, message in [
        ("redis://h?timeout=0", "positive"),
        ("redis://h?timeout=soon", "number of seconds"),
        ("redis://h?namespace=", "must not be empty"),
        ("redis://:hunter2@h:1?timeout=x", "redis://:***@h:1"),
    ]:
        with pytest.raises(GuardrailsError, match=message.replace("*", r"\*")) as err:
            RedisStore.from_url(bad)
        assert "hunter2" not in str(err.value)
    with pytest.raises(GuardrailsError, match="unknown state store"):
        guardrails.loads(EMAILS.format(limit=1), "e.rules", state="memcached://h")
    # nothing listens on port 1: a refused connection is a StateError, at once
    spec = StateSpec("n", "counter", None, 60.0, None, "d")
    with pytest.raises(StateError, match=r"Redis at 127\.0\.0\.1:1 is unreachable"):
        default.exchange([StateOp(spec, "[1]", True, 1.0, None, True)], 0.0)


def test_without_redis_server_the_tests_fail_saying_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y redis-server"):
        RedisServer()


def test_refused_credentials_fail_closed_and_a_password_in_the_url_is_used():
    server = RedisServer(None, "--requirepass", "sesame").start()
    try:
        spec = StateSpec("n", "counter", None, 60.0, None, "d")
        ops = [StateOp(spec, "[1]", True, 1.0, None, True)]
        for wrong in (server.url, f"redis://:nope@127.0.0.1:{server.port}/0"):
            with pytest.raises(StateError, match="refused our credentials"):
                RedisStore.from_url(wrong).exchange(ops, 0.0)
        right = RedisStore.from_url(f"redis://:sesame@127.0.0.1:{server.port}/0")
        assert right.exchange(ops, 0.0)[0].value == 0
        assert right.exchange(ops, 1.0)[0].value == 1
    finally:
        server.close()
