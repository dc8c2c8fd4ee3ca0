"""`guardrails serve`: rules as cpex external plugins, used by a client manager that
talks to a separate server process over MCP stdio."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from cpex.framework import (
    GlobalContext,
    MCPClientConfig,
    PluginConfig,
    TenantPluginManager,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config

from guardrails.cli import serve_config
from guardrails.runtime.records import read_records

logging.getLogger("cpex").setLevel(logging.CRITICAL)

RULES = """
rule deny_shell on tool_pre_invoke priority 10 when tool.name == "shell" unless user.role == "admin"
  block "no shell" code NO_SHELL
rule tag on tool_pre_invoke mode transform priority 20 set tool.args.tagged = true
"""


def external(mcp: MCPClientConfig, modes: tuple[str, ...]) -> TenantPluginManager:
    """A client manager with one `kind: external` entry per mode, as docs/hosts.md shows."""
    entries = [
        PluginConfig(
            name=f"guardrails-{mode}",
            kind="external",
            hooks=["tool_pre_invoke"],
            mode=mode,
            priority=10 * (i + 1),
            mcp=mcp,
        )
        for i, mode in enumerate(modes)
    ]
    return TenantPluginManager(Config(plugins=entries))


def client(rules: Path, *extra: str) -> TenantPluginManager:
    """Over MCP stdio: each entry spawns its own `guardrails serve` process."""
    command = [sys.executable, "-m", "guardrails", "serve", str(rules), *extra]
    return external(MCPClientConfig(proto="STDIO", cmd=command), ("sequential", "transform"))


def test_a_client_in_another_process_gets_blocks_and_modifications(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tools.rules").write_text(RULES)

    decisions = tmp_path / "decisions.jsonl"

    async def scenario() -> tuple[Any, Any]:
        manager = client(rules, "--records", str(decisions))
        await manager.initialize()
        assert manager.plugin_count == 2
        try:
            guest, _ = await manager.invoke_hook(
                "tool_pre_invoke",
                ToolPreInvokePayload(name="shell", args={"cmd": "ls"}),
                GlobalContext(request_id="g", user={"role": "guest"}),
            )
            admin, _ = await manager.invoke_hook(
                "tool_pre_invoke",
                ToolPreInvokePayload(name="shell", args={"cmd": "ls"}),
                GlobalContext(request_id="a", user={"role": "admin"}),
            )
        finally:
            await manager.shutdown()
        return guest, admin

    guest, admin = asyncio.run(scenario())
    assert guest.continue_processing is False and guest.violation.code == "NO_SHELL"
    assert guest.violation.details["rule"] == "deny_shell"
    assert admin.continue_processing is True
    assert admin.modified_payload.args == {"cmd": "ls", "tagged": True}
    # the server processes wrote the decision records
    fired = [(r["rule"], r["verdict"]) for r in read_records(decisions)]
    assert ("deny_shell", "block") in fired and ("tag", "modify") in fired


def test_serve_watch_reloads_changed_rules(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tools.rules").write_text(RULES)

    async def search(manager: TenantPluginManager) -> Any:
        result, _ = await manager.invoke_hook(
            "tool_pre_invoke",
            ToolPreInvokePayload(name="search", args={}),
            GlobalContext(request_id="s", user={"role": "guest"}),
        )
        return result

    async def scenario() -> tuple[Any, Any]:
        manager = client(rules, "--watch")
        await manager.initialize()
        try:
            before = await search(manager)
            (rules / "tools.rules").write_text(
                RULES + 'rule no_search on tool_pre_invoke when tool.name == "search" block '
                "code NO_SEARCH\n"
            )
            deadline = asyncio.get_running_loop().time() + 15
            after = await search(manager)
            while after.continue_processing and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.1)
                after = await search(manager)
        finally:
            await manager.shutdown()
        return before, after

    before, after = asyncio.run(scenario())
    assert before.continue_processing is True
    assert after.continue_processing is False and after.violation.code == "NO_SEARCH"


def test_many_clients_share_one_http_server_on_a_unix_socket(tmp_path):
    import subprocess
    import time

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tools.rules").write_text(RULES)
    sock = tmp_path / "guardrails.sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "guardrails", "serve", str(rules), "--transport", "http",
         "--uds", str(sock)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the server did not open its socket"
            time.sleep(0.1)

        async def one_client(role: str) -> Any:
            mcp = MCPClientConfig(proto="STREAMABLEHTTP", url="http://localhost/mcp", uds=str(sock))
            manager = external(mcp, ("sequential",))
            await manager.initialize()
            try:
                result, _ = await manager.invoke_hook(
                    "tool_pre_invoke",
                    ToolPreInvokePayload(name="shell", args={}),
                    GlobalContext(request_id=role, user={"role": role}),
                )
            finally:
                await manager.shutdown()
            return result

        async def clients() -> list[Any]:
            return list(await asyncio.gather(one_client("guest"), one_client("admin")))

        guest, admin = asyncio.run(clients())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert guest.continue_processing is False and guest.violation.code == "NO_SHELL"
    assert admin.continue_processing is True


def test_serve_config_has_one_entry_per_mode(tmp_path):
    import guardrails

    rules = tmp_path / "r.rules"
    rules.write_text(
        RULES + "rule w on generation_post_call mode audit when output contains 'x' block\n"
    )
    text = serve_config(guardrails.load(rules), rules, shadow=False)
    assert text.count("kind: guardrails.cpex.RulesPlugin") == 3
    assert "name: guardrails-audit" in text and "hooks: [generation_post_call]" in text
    assert "others: skip" in text


def test_serve_refuses_broken_rules(tmp_path):
    import subprocess

    bad = tmp_path / "bad.rules"
    bad.write_text("on nowhere block\n")
    proc = subprocess.run(
        [sys.executable, "-m", "guardrails", "serve", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "error[GR0200]" in proc.stderr
