"""`kind: guardrails.adapters.remote.RemoteRules`: a cpex host using `guardrails serve
--transport http` fails closed while the server is away and recovers when it is back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cpex.framework import (
    GlobalContext,
    PluginConfig,
    PluginError,
    TenantPluginManager,
    ToolPreInvokePayload,
)
from cpex.framework.models import Config

from guardrails.adapters.cpex.compat import MCP2
from guardrails.adapters.remote import RemoteRules, _NoAnswer

from .test_serve import RULES, free_port, get, http_server, stop, wait_until_serving

logging.getLogger("cpex").setLevel(logging.CRITICAL)
logging.getLogger("mcp").setLevel(logging.CRITICAL)

KIND = "guardrails.adapters.remote.RemoteRules"


def remote(config: dict[str, Any], *modes: str, on_error: str = "fail") -> TenantPluginManager:
    entries = [
        PluginConfig(
            name=f"guardrails-{mode}",
            kind=KIND,
            hooks=["tool_pre_invoke"],
            mode=mode,
            priority=10 * (i + 1),
            on_error=on_error,
            config=config,
        )
        for i, mode in enumerate(modes)
    ]
    return TenantPluginManager(Config(plugins=entries))


async def call(manager: TenantPluginManager, role: str) -> Any:
    """The result, or the exception (any BaseException but the caller's own cancellation)."""
    try:
        result, _ = await manager.invoke_hook(
            "tool_pre_invoke",
            ToolPreInvokePayload(name="shell", args={}),
            GlobalContext(request_id=role, user={"role": role}),
        )
    except BaseException as err:
        result = err
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the caller's task is not cancelled
    assert not isinstance(result, asyncio.CancelledError)
    return result


def code(result: Any) -> str | None:
    return result.violation.code if result.violation else None


def unavailable(result: Any) -> bool:
    return (
        result.continue_processing is False
        and code(result) == "GUARDRAIL_UNAVAILABLE"
        and result.violation.http_status_code == 503  # a gateway client gets no HTTP 200
    )


async def until(manager: TenantPluginManager, role: str, done: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    result = await call(manager, role)
    while not done(result):
        assert time.monotonic() < deadline, result
        await asyncio.sleep(0.1)
        result = await call(manager, role)
    return result


@pytest.fixture
def served(tmp_path):
    """(start, config): start() runs `guardrails serve --transport http` on one port."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tools.rules").write_text(RULES)
    token_file = tmp_path / "token"
    token_file.write_text(secrets.token_urlsafe(32) + "\n")
    token_file.chmod(0o600)
    port, log = free_port(), tmp_path / "server.log"
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        server = http_server(rules, log, "--port", str(port), "--token-file", str(token_file))
        started.append(server)

        def healthy() -> bool:
            try:
                return get(port, "/health")[0] == 200
            except OSError:
                return False

        wait_until_serving(server, healthy, log)
        return server

    config = {"url": f"http://localhost:{port}/mcp", "token_file": str(token_file), "timeout": 5}
    yield start, config
    for server in started:
        if server.poll() is None:
            stop(server)
    assert token_file.read_text().strip() not in log.read_text()


def test_calls_fail_closed_while_the_server_is_away_and_recover(served):
    start, config = served

    async def scenario() -> None:
        manager = remote(config, "sequential", "transform")
        transform = remote(config, "transform")
        # down at start: the entries load all the same (cpex does not skip them) and block
        await manager.initialize()
        await transform.initialize()
        assert manager.plugin_count == 2
        try:
            assert unavailable(await call(manager, "guest"))
            assert unavailable(await call(manager, "admin"))
            failed = await call(transform, "admin")
            assert isinstance(failed, PluginError) and "GUARDRAIL_UNAVAILABLE" in str(failed)

            server = start()
            guest = await until(manager, "guest", lambda r: not unavailable(r))
            assert code(guest) == "NO_SHELL"
            admin = await call(manager, "admin")
            assert admin.continue_processing and admin.modified_payload.args == {"tagged": True}

            for sig in (signal.SIGTERM, signal.SIGKILL):
                server.send_signal(sig)
                server.wait(timeout=10)
                assert unavailable(await call(manager, "guest"))
                assert unavailable(await call(manager, "admin"))
                failed = await call(transform, "admin")
                assert isinstance(failed, PluginError), failed

                server = start()  # the same managers, never re-created
                guest = await until(manager, "guest", lambda r: not unavailable(r))
                assert code(guest) == "NO_SHELL"
                admin = await until(transform, "admin", lambda r: not isinstance(r, Exception))
                assert admin.modified_payload.args == {"tagged": True}

            # restarted between two calls: the first call after it reconnects and decides
            stop(server)
            server = start()
            assert code(await call(manager, "guest")) == "NO_SHELL"
        finally:
            await manager.shutdown()
            await transform.shutdown()

    asyncio.run(scenario())


def test_a_refused_token_blocks_and_a_new_token_file_is_read_on_reconnect(served):
    start, config = served
    token_file = Path(config["token_file"])
    right = token_file.read_text()

    async def scenario() -> None:
        start()
        token_file.write_text(secrets.token_urlsafe(32) + "\n")  # not the server's
        manager = remote(config, "sequential")
        await manager.initialize()
        try:
            refused = await call(manager, "guest")
            # mcp 2 shows the server's JSON-RPC error; mcp 1.x (cpex 0.1.3) the HTTP status
            refused_by = "wrong token" if MCP2 else "401 Unauthorized"
            assert unavailable(refused) and refused_by in refused.violation.description
            token_file.write_text(right)
            guest = await until(manager, "guest", lambda r: not unavailable(r))
            assert code(guest) == "NO_SHELL"
        finally:
            await manager.shutdown()

    asyncio.run(scenario())


def test_a_unix_socket_server_without_a_token(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tools.rules").write_text(RULES)
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    sock, log = private / "guardrails.sock", tmp_path / "server.log"
    config = {"url": "http://localhost/mcp", "uds": str(sock)}

    async def scenario() -> tuple[Any, Any]:
        manager = remote(config, "sequential", "transform")
        await manager.initialize()
        try:
            # the socket appears a moment before the server answers on it
            guest = await until(manager, "guest", lambda r: not unavailable(r))
            return guest, await call(manager, "admin")
        finally:
            await manager.shutdown()

    server = http_server(rules, log, "--uds", str(sock), "--no-auth")
    try:
        wait_until_serving(server, sock.exists, log)
        guest, admin = asyncio.run(scenario())
    finally:
        stop(server)
    assert code(guest) == "NO_SHELL"
    assert admin.continue_processing and admin.modified_payload.args == {"tagged": True}


@contextlib.asynccontextmanager
async def silent_server() -> Any:
    """A loopback port that accepts connections and never answers (a hung server)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()


def test_a_hung_server_blocks_after_the_timeout_and_the_callers_cancellation_stays_its_own():
    async def scenario() -> None:
        async with silent_server() as port:
            config = {"url": f"http://localhost:{port}/mcp", "timeout": 0.5}
            manager = remote(config, "sequential")
            await manager.initialize()  # waits the timeout, logs, loads
            try:
                result = await call(manager, "guest")
                assert unavailable(result)
                await asyncio.sleep(0.3)  # past the backoff: the next call connects again
                payload = ToolPreInvokePayload(name="shell", args={})
                hook = manager.invoke_hook(
                    "tool_pre_invoke", payload, GlobalContext(request_id="c")
                )
                task = asyncio.create_task(hook)
                await asyncio.sleep(0.2)
                assert not task.done()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert unavailable(await call(manager, "guest"))  # and the plugin still works
            finally:
                await manager.shutdown()

    asyncio.run(scenario())


def test_a_cancellation_from_the_transport_is_an_unavailable_server():
    class Broken:
        async def call_tool(self, *args: Any) -> Any:
            raise asyncio.CancelledError("Cancelled via cancel scope")

    async def scenario() -> None:
        with pytest.raises(_NoAnswer, match="connection broke"):
            await RemoteRules._call(Broken(), {}, 1)  # type: ignore[arg-type]

    asyncio.run(scenario())


def test_entries_without_a_server_or_a_usable_config_never_let_a_blocking_call_through():
    port = free_port()  # nothing listens there
    down = {"url": f"http://localhost:{port}/mcp", "timeout": 1}

    async def scenario() -> dict[str, Any]:
        outcomes = {}
        cases = {
            "no url": ({}, "sequential", "fail"),
            "token in url": (
                {"url": down["url"] + "?access_token=" + "x" * 20},
                "sequential",
                "fail",
            ),
            "unknown key": ({**down, "token-file": "t"}, "sequential", "fail"),
            "bad timeout": ({**down, "timeout": 0}, "sequential", "fail"),
            "down": (down, "sequential", "fail"),
            "down, concurrent": (down, "concurrent", "fail"),
            "down, audit": (down, "audit", "fail"),
            "down, on_error ignore": (down, "sequential", "ignore"),
        }
        for name, (config, mode, on_error) in cases.items():
            manager = remote(config, mode, on_error=on_error)
            await manager.initialize()
            assert manager.plugin_count == 1, name
            try:
                outcomes[name] = await call(manager, "guest")
            finally:
                await manager.shutdown()
        return outcomes

    outcomes = asyncio.run(scenario())
    for name in ("no url", "token in url", "unknown key", "bad timeout"):
        assert code(outcomes[name]) == "GUARDRAIL_CONFIG", name
    assert "token_file" in outcomes["token in url"].violation.description
    assert unavailable(outcomes["down"]) and unavailable(outcomes["down, concurrent"])
    assert "connection" in outcomes["down"].violation.description.lower()
    # audit entries never stop a call; they say why they could not decide
    audit = outcomes["down, audit"]
    assert audit.continue_processing and "GUARDRAIL_UNAVAILABLE" in str(audit.metadata)
    # on_error: ignore is the host's explicit opt-out: cpex lets the call go on
    assert outcomes["down, on_error ignore"].continue_processing
