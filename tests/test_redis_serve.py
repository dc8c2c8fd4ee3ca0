"""`guardrails serve --state redis://...`: two server processes count in one Redis, so
a budget holds across replicas; while Redis is down their stateful rules fail closed
(unless they say `on_error ignore`), and they serve again once it is back."""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from cpex.framework import (
    GlobalContext,
    PluginConfig,
    TenantPluginManager,
    ToolPostInvokePayload,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config

from .redis_server import RedisServer
from .test_serve import free_port, get, http_server, stop, wait_until_serving

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("mcp").setLevel(logging.CRITICAL)

RULES = """
counter emails_sent per user limit 5
counter results_seen per user limit 1000

rule count_emails on tool_pre_invoke when tool.name == "send_email" add 1 to emails_sent
rule email_limit on tool_pre_invoke
  when tool.name == "send_email" and emails_sent >= emails_sent.limit
  block "at most {emails_sent.limit} emails" code EMAIL_LIMIT

rule count_results on tool_post_invoke on_error ignore add 1 to results_seen
rule result_limit on tool_post_invoke on_error ignore
  when results_seen >= results_seen.limit block code RESULT_LIMIT
"""


class Replicas:
    def __init__(self, redis_server: RedisServer, ports: list[int], token_file: Path) -> None:
        self.redis = redis_server
        self.ports = ports
        self.token_file = token_file

    def manager(self, port: int) -> TenantPluginManager:
        entry = PluginConfig(
            name="guardrails-sequential",
            kind="guardrails.adapters.remote.RemoteRules",
            hooks=["tool_pre_invoke", "tool_post_invoke"],
            mode="sequential",
            priority=10,
            config={"url": f"http://127.0.0.1:{port}/mcp", "token_file": str(self.token_file)},
        )
        return TenantPluginManager(Config(plugins=[entry]))


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    tmp = tmp_path_factory.mktemp("replicas")
    rules = tmp / "shop.rules"
    rules.write_text(RULES)
    token_file = tmp / "token"
    token_file.write_text(secrets.token_urlsafe(32))
    token_file.chmod(0o600)
    store = RedisServer().start()
    servers: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    try:
        state = f"{store.url}?namespace=shop&timeout=0.5"
        for i in range(2):
            port, log = free_port(), tmp / f"server{i}.log"
            args = ["--port", str(port), "--token-file", str(token_file), "--state", state]
            servers.append((http_server(rules, log, *args), port, log))
        for server, port, log in servers:
            wait_until_serving(server, lambda p=port: healthy(p), log)
        yield Replicas(store, [port for _, port, _ in servers], token_file)
    finally:
        for server, _, _ in servers:
            stop(server)
        store.close()


def healthy(port: int) -> bool:
    try:
        return get(port, "/health")[0] == 200
    except OSError:
        return False


async def send_email(manager: TenantPluginManager, user: str) -> Any:
    result, _ = await manager.invoke_hook(
        "tool_pre_invoke",
        ToolPreInvokePayload(name="send_email", args={"to": "a@example.com"}),
        GlobalContext(request_id=secrets.token_hex(4), user={"id": user}),
    )
    return result


async def tool_result(manager: TenantPluginManager, user: str) -> Any:
    result, _ = await manager.invoke_hook(
        "tool_post_invoke",
        ToolPostInvokePayload(name="send_email", result={"ok": True}),
        GlobalContext(request_id=secrets.token_hex(4), user={"id": user}),
    )
    return result


def outcome(result: Any) -> str:
    return result.violation.code if result.violation else "allow"


def run_on_both(replicas: Replicas, scenario: Any) -> Any:
    async def main() -> Any:
        managers = [replicas.manager(port) for port in replicas.ports]
        for m in managers:
            await m.initialize()
        try:
            return await scenario(managers)
        finally:
            for m in managers:
                await m.shutdown()

    return asyncio.run(main())


def test_two_servers_sharing_redis_allow_exactly_the_budget(replicas):
    async def scenario(managers: list[TenantPluginManager]) -> list[str]:
        calls = [send_email(managers[i % 2], "budget") for i in range(40)]
        return [outcome(r) for r in await asyncio.gather(*calls)]

    outcomes = run_on_both(replicas, scenario)
    assert outcomes.count("allow") == 5 and outcomes.count("EMAIL_LIMIT") == 35
    client = redis.Redis(port=replicas.redis.port)
    counted = [float(client.hget(k, "v") or 0) for k in client.keys("shop:emails_sent:*")]
    assert counted == [40.0]  # every call counted once, blocked or not


def test_while_redis_is_down_stateful_rules_fail_closed_and_recover(replicas):
    async def scenario(managers: list[TenantPluginManager]) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        seen["before"] = [outcome(await send_email(m, "outage")) for m in managers]
        replicas.redis.stop()
        try:
            seen["down"] = [outcome(await send_email(m, "outage")) for m in managers]
            seen["down, on_error ignore"] = [
                outcome(await tool_result(m, "outage")) for m in managers
            ]
        finally:
            replicas.redis.start()  # the same port, empty
        seen["back"] = [outcome(await send_email(m, "outage")) for m in managers]
        return seen

    seen = run_on_both(replicas, scenario)
    assert seen == {
        "before": ["allow", "allow"],
        "down": ["GUARDRAIL_ERROR", "GUARDRAIL_ERROR"],
        "down, on_error ignore": ["allow", "allow"],
        "back": ["allow", "allow"],
    }
