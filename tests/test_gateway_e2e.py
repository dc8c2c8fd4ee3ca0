"""The ContextForge MCP gateway as a host, end to end: the real gateway process (SQLite,
loopback) loads `kind: guardrails.cpex.RulesPlugin` entries from its plugins.yaml, fronts
a small MCP server this test starts, and a JSON-RPC client calls tools, a prompt and a
resource through it. Skipped where the gateway is not installed (the main test env)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcpgateway")

from guardrails.records import read_records

KEY = "AKIAIOSFODNN7EXAMPLE"

RULES = r"""
# the gateway may prefix an upstream's tool names with the upstream's name
rule no_destructive_shell on tool_pre_invoke
  when tool.name matches /(^|[-_.])shell$/ and text(tool.args) matches /rm\s+-rf/
  block "destructive shell command" code SHELL_DESTRUCTIVE

rule redact_tool_keys on tool_post_invoke mode transform
  when text(tool.output) matches /AKIA[0-9A-Z]{16}/
  redact tool.output /AKIA[0-9A-Z]{16}/ with "[AWS KEY]"

rule redact_prompt_keys on prompt_post_fetch mode transform
  when output matches /AKIA[0-9A-Z]{16}/
  redact result /AKIA[0-9A-Z]{16}/ with "[AWS KEY]"

rule redact_resource_keys on resource_post_fetch mode transform
  redact content /AKIA[0-9A-Z]{16}/ with "[AWS KEY]"

# the session is the client's MCP session (the gateway passes `mcp-session-id` on)
streak same_call per session of [tool.name, tool.args]
rule track_calls on tool_pre_invoke track same_call
rule stuck on tool_pre_invoke when session != null and same_call >= 2
  block "the same call a third time in a row" code AGENT_LOOP
"""

PLUGINS = """
plugins:
  - name: guardrails-sequential
    kind: guardrails.cpex.RulesPlugin
    hooks: [tool_pre_invoke]
    mode: sequential
    priority: 5
    config: {{rules: {rules}, others: skip, records: {records}, time_budget_ms: 5000}}
  - name: guardrails-transform
    kind: guardrails.cpex.RulesPlugin
    hooks: [tool_post_invoke, prompt_post_fetch, resource_post_fetch]
    mode: transform
    priority: 10
    config: {{rules: {rules}, others: skip, records: {records}, time_budget_ms: 5000}}
"""

UPSTREAM = f'''
import sys
from mcp.server.fastmcp import FastMCP

mcp = FastMCP("upstream", host="127.0.0.1", port=int(sys.argv[1]), log_level="WARNING")


@mcp.tool()
def shell(cmd: str) -> str:
    """Pretends to run a command."""
    return "ran " + cmd


@mcp.tool()
def read_env() -> str:
    """Returns an environment with a credential in it."""
    return "AWS_ACCESS_KEY_ID={KEY} REGION=us-east-1"


@mcp.prompt()
def deploy(target: str) -> str:
    """A prompt quoting a credential."""
    return "Deploy to " + target + " with key {KEY}"


@mcp.resource("config://app")
def app_config() -> str:
    """A resource holding a credential."""
    return "aws_key = {KEY}"


mcp.run(transport="streamable-http")
'''


def settings(work: Path, plugins: Path) -> dict[str, str]:
    """The gateway's settings (environment variables) for a throwaway instance in `work`:
    SQLite there, fresh secrets, no UI, no Redis, our plugins.yaml, loopback upstreams."""
    return {
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "AUTH_ENCRYPTION_SECRET": secrets.token_urlsafe(32),
        "DATABASE_URL": f"sqlite:///{work / 'gw.db'}",
        "PLATFORM_ADMIN_EMAIL": "admin@example.com",
        "PLATFORM_ADMIN_PASSWORD": "Gw-" + secrets.token_urlsafe(16) + "-9z",
        "MCPGATEWAY_UI_ENABLED": "false",
        "MCPGATEWAY_ADMIN_API_ENABLED": "true",
        "CACHE_TYPE": "memory",
        "REDIS_URL": "",
        "PLUGINS_ENABLED": "true",
        "PLUGINS_CONFIG_FILE": str(plugins),
        "SSRF_ALLOW_LOCALHOST": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# loopback only: a proxy from the environment must not see these requests
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(
    url: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(req, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_for(ready: Any, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 45
    while True:
        try:
            if ready():
                return
        except OSError:
            pass
        assert process.poll() is None, f"{what} exited:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"{what} did not start:\n{log.read_text()[-4000:]}"
        time.sleep(0.2)


class Gateway:
    def __init__(self, url: str, token: str, records: Path, log: Path) -> None:
        self.url, self.token, self.records, self.log = url, token, records, log
        self._ids = 0

    def get(self, path: str) -> Any:
        status, body = request(self.url + path, token=self.token)
        assert status == 200, (path, status, body)
        return body

    def rpc(self, method: str, params: dict[str, Any], **headers: str) -> dict[str, Any]:
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        _, reply = request(self.url + "/rpc", body, self.token, headers)
        assert isinstance(reply, dict), (reply, self.log.read_text()[-4000:])
        return reply


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    work = tmp_path_factory.mktemp("gateway")
    rules = work / "rules"
    rules.mkdir()
    (rules / "gateway.rules").write_text(RULES)
    records = work / "decisions.jsonl"
    plugins = work / "plugins.yaml"
    plugins.write_text(PLUGINS.format(rules=rules, records=records))
    (work / "upstream.py").write_text(UPSTREAM)

    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(settings(work, plugins))
    up_port, gw_port = free_port(), free_port()
    up_log, gw_log = work / "upstream.log", work / "gateway.log"
    upstream = [sys.executable, str(work / "upstream.py"), str(up_port)]
    uvicorn = [sys.executable, "-m", "uvicorn", "mcpgateway.main:app", "--host", "127.0.0.1"]
    jwt = [sys.executable, "-m", "mcpgateway.utils.create_jwt_token", "--exp", "60"]
    # `--secret=...`: a random secret may begin with "-", which argparse takes for an option
    jwt += ["--username", "admin@example.com", f"--secret={env['JWT_SECRET_KEY']}"]
    processes = [
        start(upstream, up_log, work, env),
        start([*uvicorn, "--port", str(gw_port)], gw_log, work, env),
    ]
    try:
        minted = subprocess.run(
            jwt, cwd=work, env=env, capture_output=True, text=True, check=True, timeout=60
        )
        token = minted.stdout.strip().splitlines()[-1]
        url = f"http://127.0.0.1:{gw_port}"
        wait_for(lambda: request(url + "/health")[0] == 200, processes[1], gw_log, "gateway")

        def listening() -> bool:
            socket.create_connection(("127.0.0.1", up_port), timeout=1).close()
            return True

        wait_for(listening, processes[0], up_log, "upstream")
        upstream_mcp = f"http://127.0.0.1:{up_port}/mcp"
        register = {"name": "upstream", "url": upstream_mcp, "transport": "STREAMABLEHTTP"}
        status, body = request(url + "/gateways", register, token)
        assert status in (200, 201, 202), (status, body, gw_log.read_text()[-4000:])
        gateway = Gateway(url, token, records, gw_log)

        def federated() -> bool:  # a 202 registers the upstream's tools in the background
            return {"shell", "read_env"} <= {t["originalName"] for t in gateway.get("/tools")}

        wait_for(federated, processes[1], gw_log, "the upstream's tools")
        yield gateway
    finally:
        for process in processes:
            stop(process)


def decisions(records: Path, rule: str) -> list[dict[str, Any]]:
    """The decision records `rule` left. Only block records are written before the hook
    call returns; the rest come from the sink's writer thread, a moment later."""
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in read_records(records) if r.get("rule") == rule]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_destructive_shell_call_is_refused_with_the_rules_code(gateway: Gateway) -> None:
    tools = {tool["originalName"]: tool["name"] for tool in gateway.get("/tools")}
    reply = gateway.rpc("tools/call", {"name": tools["shell"], "arguments": {"cmd": "rm -rf /"}})
    assert "result" not in reply, reply
    error = reply["error"]
    assert error["data"]["plugin_error_code"] == "SHELL_DESTRUCTIVE", error
    assert error["data"]["plugin_name"] == "guardrails-sequential"
    assert error["data"]["details"]["rule"] == "no_destructive_shell"
    assert "no_destructive_shell" in error["message"]
    assert "/" not in error["data"]["details"]["location"]  # no server paths for clients
    assert "destructive shell command" in error["message"]  # the rule's own reason
    [record] = decisions(gateway.records, "no_destructive_shell")
    assert record["verdict"] == "block" and record["code"] == "SHELL_DESTRUCTIVE"
    assert record["hook"] == "tool_pre_invoke"

    harmless = gateway.rpc("tools/call", {"name": tools["shell"], "arguments": {"cmd": "ls"}})
    assert harmless["result"]["content"] == [{"type": "text", "text": "ran ls"}], harmless


def test_a_key_in_a_tool_result_is_redacted(gateway: Gateway) -> None:
    tools = {tool["originalName"]: tool["name"] for tool in gateway.get("/tools")}
    reply = gateway.rpc("tools/call", {"name": tools["read_env"], "arguments": {}})
    result = reply["result"]
    assert result["content"] == [
        {"type": "text", "text": "AWS_ACCESS_KEY_ID=[AWS KEY] REGION=us-east-1"}
    ], reply
    assert result.get("isError") is False
    assert KEY not in json.dumps(reply)
    [record] = decisions(gateway.records, "redact_tool_keys")
    assert record["verdict"] == "modify" and record["changes"] == ["tool.output"]


def test_a_fetched_prompt_goes_through_the_rules(gateway: Gateway) -> None:
    [name] = [p["name"] for p in gateway.get("/prompts") if p["originalName"] == "deploy"]
    reply = gateway.rpc("prompts/get", {"name": name, "arguments": {"target": "prod"}})
    assert reply["result"]["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Deploy to prod with key [AWS KEY]"}}
    ], reply
    [record] = decisions(gateway.records, "redact_prompt_keys")
    assert record["hook"] == "prompt_post_fetch" and record["verdict"] == "modify"


def test_a_read_resource_goes_through_the_rules(gateway: Gateway) -> None:
    reply = gateway.rpc("resources/read", {"uri": "config://app"})
    [content] = reply["result"]["contents"]
    assert content["uri"] == "config://app" and content["text"] == "aws_key = [AWS KEY]", reply
    assert KEY not in json.dumps(reply)
    [record] = decisions(gateway.records, "redact_resource_keys")
    assert record["hook"] == "resource_post_fetch" and record["verdict"] == "modify"


def test_a_session_is_the_clients_mcp_session(gateway: Gateway) -> None:
    tools = {tool["originalName"]: tool["name"] for tool in gateway.get("/tools")}
    echo = {"name": tools["shell"], "arguments": {"cmd": "echo hi"}}
    replies = [gateway.rpc("tools/call", echo, mcp_session_id="sess-a") for _ in range(3)]
    assert ["result" in reply for reply in replies] == [True, True, False], replies
    assert replies[2]["error"]["data"]["plugin_error_code"] == "AGENT_LOOP"
    assert "result" in gateway.rpc("tools/call", echo, mcp_session_id="sess-b")
