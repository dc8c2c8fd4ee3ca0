"""`guardrails serve --workers N`: N server processes on one port, each behind the
token, stopped together; declared state shared through Redis or refused.

Which worker answers is made observable by freezing the other (SIGSTOP): a frozen
process accepts nothing, so every new connection goes to the one left running."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cpex.framework import GlobalContext, PluginConfig, TenantPluginManager, ToolPreInvokePayload
from cpex.framework.models import Config

import guardrails
from guardrails.adapters.cpex.config_check import fit

from .redis_server import RedisServer
from .test_serve import free_port, get, http_server, private_file

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("mcp").setLevel(logging.CRITICAL)

RULES = 'rule deny_shell on tool_pre_invoke when tool.name == "shell" block code NO_SHELL\n'
BUDGET = """
counter emails_sent per user limit 5
rule count_emails on tool_pre_invoke when tool.name == "send_email" add 1 to emails_sent
rule email_limit on tool_pre_invoke
  when tool.name == "send_email" and emails_sent >= emails_sent.limit
  block code EMAIL_LIMIT
"""


def workers_serving(log: Path, count: int, server: subprocess.Popen[bytes]) -> list[int]:
    """The pids of the first `count` workers the supervisor reports serving."""
    deadline = time.monotonic() + 60
    while True:
        pids = [int(p) for p in re.findall(r"worker \d+ \(pid (\d+)\) serving", log.read_text())]
        if len(pids) >= count:
            return pids
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def alive(pid: int) -> bool:
    """Running (a zombie its parent has not reaped yet is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 20
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if alive(p)]
        time.sleep(0.05)


def manager(port: int, token_file: Path) -> TenantPluginManager:
    entry = PluginConfig(
        name="guardrails-sequential",
        kind="guardrails.adapters.remote.RemoteRules",
        hooks=["tool_pre_invoke"],
        mode="sequential",
        priority=10,
        config={"url": f"http://127.0.0.1:{port}/mcp", "token_file": str(token_file)},
    )
    return TenantPluginManager(Config(plugins=[entry]))


def calls(port: int, token_file: Path, tools: list[str], user: str = "u") -> list[str]:
    """The outcome of each call, made concurrently through one new RemoteRules client."""

    async def run() -> list[str]:
        m = manager(port, token_file)
        await m.initialize()
        try:
            results = await asyncio.gather(
                *(
                    m.invoke_hook(
                        "tool_pre_invoke",
                        ToolPreInvokePayload(name=tool, args={}),
                        GlobalContext(request_id=secrets.token_hex(4), user={"id": user}),
                    )
                    for tool in tools
                )
            )
        finally:
            await m.shutdown()
        return [r.violation.code if r.violation else "allow" for r, _ in results]

    return asyncio.run(run())


def token_file(tmp_path: Path) -> tuple[str, Path]:
    token = secrets.token_urlsafe(32)
    return token, private_file(tmp_path / "token", token)


def test_two_workers_answer_on_one_port_share_redis_and_stop_together(tmp_path):
    rules = tmp_path / "r.rules"
    rules.write_text(RULES + BUDGET)
    token, tokens = token_file(tmp_path)
    port, log, records = free_port(), tmp_path / "server.log", tmp_path / "decisions.jsonl"
    store = RedisServer().start()
    args = ["--port", str(port), "--token-file", str(tokens), "--workers", "2"]
    server = http_server(
        rules, log, *args, "--state", store.url, "--records", str(records), "--watch"
    )
    try:
        first, second = workers_serving(log, 2, server)
        outcomes: list[str] = []
        for other in (second, first, second):
            with frozen(other):  # every connection below reaches the other worker
                assert get(port, "/mcp")[0] == 401
                bearer = {"Authorization": f"Bearer {token}"}
                assert get(port, "/metrics/prometheus", bearer)[0] == 200
                outcomes += calls(port, tokens, ["shell"] + ["send_email"] * 4, user="budget")
        # the budget of 5 holds across the workers: they count in one Redis
        assert sorted(outcomes) == sorted(["NO_SHELL"] * 3 + ["allow"] * 5 + ["EMAIL_LIMIT"] * 7)

        # --watch: every worker reloads
        rules.write_text(RULES + BUDGET + 'rule no_search on tool_pre_invoke when tool.name == '
                         '"search" block code NO_SEARCH\n')  # fmt: skip
        for other in (second, first):
            with frozen(other):
                deadline = time.monotonic() + 15
                while calls(port, tokens, ["search"]) != ["NO_SEARCH"]:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)

        # a worker that dies is replaced; the port is served meanwhile
        os.kill(first, signal.SIGKILL)
        assert calls(port, tokens, ["shell"]) == ["NO_SHELL"]
        _, _, third = workers_serving(log, 3, server)
        assert "exited (killed by SIGKILL); starting another" in log.read_text()

        server.terminate()  # stops every worker
        assert server.wait(timeout=30) == 0
        wait_gone([second, third])
    finally:
        server.kill()
        server.wait()
        store.close()
    blocks = [json.loads(line) for line in records.read_text().splitlines()]
    assert sum(r["code"] == "NO_SHELL" for r in blocks) == 4  # both workers wrote whole lines
    assert token not in log.read_text()


def test_a_worker_stops_when_the_supervisor_is_gone(tmp_path):
    """Even a supervisor killed by SIGKILL closes the pipe its workers follow."""
    life_r, life_w = os.pipe()
    code = (
        "import sys, time\n"
        "from guardrails.adapters.cpex.serve_workers import follow_supervisor\n"
        "follow_supervisor(int(sys.argv[1]))\n"
        "time.sleep(60)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code, str(life_r)], pass_fds=(life_r,))
    os.close(life_r)
    try:
        time.sleep(0.2)
        assert worker.poll() is None  # following, while the pipe is open
        os.close(life_w)
        assert worker.wait(timeout=10) == -signal.SIGTERM
    finally:
        worker.kill()


def test_workers_refuse_rules_that_remember_in_memory(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from guardrails.tooling.cli import main

    rules = tmp_path / "shop.rules"
    rules.write_text(BUDGET)
    execs: list[Any] = []
    monkeypatch.setattr(os, "execve", lambda *a: execs.append(a))

    def serve(*args: str) -> Any:
        return CliRunner().invoke(main, ["serve", str(rules), "--transport", "http", *args])

    stdio = CliRunner().invoke(main, ["serve", str(rules), "--workers", "2"])
    assert stdio.exit_code == 2 and "--workers needs --transport http" in stdio.output
    assert serve("--workers", "0").exit_code == 2
    refused = serve("--workers", "2")
    assert refused.exit_code == 2 and "each worker process would count on its own" in (
        refused.output
    )
    assert "emails_sent" in refused.output and "--state redis://" in refused.output
    assert execs == []
    assert serve("--workers", "2", "--state", "redis://127.0.0.1:1/0").exit_code == 0
    assert serve("--workers", "1").exit_code == 0
    config = Path(execs[0][2]["PLUGINS_CONFIG_PATH"]).read_text()
    assert "workers: 2" in config and "redis://" in config

    # a reload that brings such rules into a worker is refused by the entry
    policy = guardrails.load(rules)
    entry = PluginConfig(
        name="guardrails-sequential",
        kind="guardrails.cpex.RulesPlugin",
        hooks=["tool_pre_invoke"],
        mode="sequential",
        config={"rules": str(rules), "workers": 2},
    )
    _, problems = fit(policy, policy.compiled, entry)
    assert any("would each count on their own" in p.message for p in problems)
    entry.config["state"] = "redis://127.0.0.1:1/0"
    assert fit(policy, policy.compiled, entry)[1] == []
