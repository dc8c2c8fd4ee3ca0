"""`guardrails serve --transport http` under load: N worker processes on one port.

    python benchmarks/bench_serve_http.py [--seconds S] [--rounds R] [--clients C]

(T) 100 rules (`when tool.name == "t{i}" and tool.args.q contains "x{i}" block`, 5
priorities; none fires), C clients (default 8), each one keep-alive connection and
one MCP session, sending `invoke_hook` tool calls back to back for S seconds. The
client is a minimal HTTP/1.1 client (pre-built requests, no MCP SDK), so that it
takes as little of the machine's CPU from the server as it can. Figures: requests
per second and latency percentiles, for `--workers 1` and `--workers 2`, rounds
interleaved, medians; the ratio of 2 to 1 (the ceiling is the number of cores, and
the client runs on the same cores).

(U) Our own share of one served call: the time our plugin's handler takes for the
call's payload (measured in process on the same rules) and the token middleware,
against the call's latency as one client sees it (one client, one call at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RULES = "\n".join(
    f'rule r{i} on tool_pre_invoke priority {10 + i % 5} when tool.name == "t{i}" '
    f'and tool.args.q contains "x{i}" block "no" code R{i}'
    for i in range(100)
)
PLUGIN = "guardrails-sequential"
PAYLOAD = {"name": "search", "args": {"q": "what is the weather like"}}
CONTEXT = {"global_context": {"request_id": "r1", "user": {"id": "u1"}}}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rpc(method: str, params: dict[str, Any], ident: int | None = 1) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if ident is not None:
        body["id"] = ident
    return json.dumps(body).encode()


INIT = _rpc(
    "initialize",
    {"protocolVersion": "2025-06-18", "capabilities": {},
     "clientInfo": {"name": "bench", "version": "1"}},
)  # fmt: skip
INITIALIZED = _rpc("notifications/initialized", {}, None)
CALL = _rpc(
    "tools/call",
    {"name": "invoke_hook", "arguments": {"hook_type": "tool_pre_invoke", "plugin_name": PLUGIN,
                                          "payload": PAYLOAD, "context": CONTEXT}},
)  # fmt: skip


class Connection:
    """One keep-alive HTTP/1.1 connection speaking MCP's streamable HTTP, minimally."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.session: str | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        headers, _ = await self.post(INIT)
        self.session = headers.get("mcp-session-id")
        await self.post(INITIALIZED)
        self.call = self.request(CALL)

    def request(self, body: bytes) -> bytes:
        lines = [
            "POST /mcp HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
            f"Authorization: Bearer {self.token}", "Content-Type: application/json",
            "Accept: application/json, text/event-stream", f"Content-Length: {len(body)}",
        ]  # fmt: skip
        if self.session:
            lines += [f"Mcp-Session-Id: {self.session}", "MCP-Protocol-Version: 2025-06-18"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def post(self, body: bytes, raw: bytes | None = None) -> tuple[dict[str, str], bytes]:
        self.writer.write(raw or self.request(body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, *fields = head.decode("latin-1").split("\r\n")
        headers = {}
        for f in fields:
            if f:
                k, _, v = f.partition(":")
                headers[k.strip().lower()] = v.strip()
        if not status.split()[1].startswith("2"):
            raise RuntimeError(f"{status}: {await self.reader.read(500)!r}")
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(data[:-2])
            return headers, b"".join(chunks)
        return headers, await self.reader.readexactly(int(headers.get("content-length", 0)))

    async def decide(self) -> bytes:
        _, body = await self.post(CALL, self.call)
        return body


def answer(body: bytes) -> dict[str, Any]:
    """The plugin's result in an `invoke_hook` reply (SSE or JSON)."""
    text = body.decode()
    if text.lstrip().startswith("{"):
        message = json.loads(text)
    else:
        message = json.loads(next(ln[5:] for ln in text.splitlines() if ln.startswith("data:")))
    return json.loads(message["result"]["content"][0]["text"])["result"]  # type: ignore[no-any-return]


async def drive(port: int, token: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    """(calls answered, each call's latency in seconds) for `clients` connections."""
    conns = [Connection(port, token) for _ in range(clients)]
    for c in conns:
        await c.open()
    assert answer(await conns[0].decide())["continue_processing"] is True
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def loop(c: Connection) -> None:
        while (t0 := time.perf_counter()) < end:
            body = await c.decide()
            latencies.append(time.perf_counter() - t0)
            assert b"continue_processing" in body

    await asyncio.gather(*(loop(c) for c in conns))
    for c in conns:
        c.writer.close()
    return len(latencies), latencies


def start(folder: Path, workers: int, token_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = [sys.executable, "-m", "guardrails", "serve", str(folder), "--transport", "http",
            "--port", str(port), "--token-file", str(token_file), "--workers", str(workers)]  # fmt: skip
    env = dict(os.environ, PLUGINS_LOG_LEVEL="WARNING")
    log = open(folder / f"server{workers}.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    import urllib.request

    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            if (
                workers == 1
                or (folder / f"server{workers}.log").read_text().count(" serving ") >= workers
            ):
                return server, port
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((folder / f"server{workers}.log").read_text())
        time.sleep(0.2)


def our_share_ns(folder: Path, calls: int = 3000) -> dict[str, float]:
    """ns per call of our plugin's handler for PAYLOAD on the same rules, in process (as
    the server's cpex calls it), and of the token middleware for one request."""
    from cpex.framework import GlobalContext, PluginContext, PluginManager, ToolPreInvokePayload

    import guardrails
    from guardrails.adapters.cpex.serve import BearerToken
    from guardrails.adapters.cpex.serve_config import serve_config

    policy = guardrails.load(folder)
    config = folder / "inproc.yaml"
    config.write_text(serve_config(policy, folder, shadow=False))

    async def measure() -> dict[str, float]:
        manager = PluginManager(str(config))
        await manager.initialize()
        plugin = manager._registry.get_plugin(PLUGIN).plugin
        handler = plugin.tool_pre_invoke
        payload = ToolPreInvokePayload.model_validate(PAYLOAD)
        context = PluginContext(
            global_context=GlobalContext.model_validate(CONTEXT["global_context"])
        )
        for _ in range(200):
            await handler(payload, context)
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            await handler(payload, context)
        plugin_ns = (time.perf_counter_ns() - t0) / calls
        await manager.shutdown()

        token = secrets.token_urlsafe(32)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            pass

        guard = BearerToken(app, token)
        scope = {"type": "http", "method": "POST", "path": "/mcp", "query_string": b"",
                 "headers": [(b"host", b"x"), (b"authorization", f"Bearer {token}".encode())]}  # fmt: skip
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            await guard(scope, None, None)
        token_ns = (time.perf_counter_ns() - t0) / calls
        return {"plugin": plugin_ns, "token": token_ns}

    return asyncio.run(measure())


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its children (the workers), from /proc."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-http-"))
    (folder / "r.rules").write_text(RULES + "\n")
    token = secrets.token_urlsafe(32)
    token_file = folder / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    servers = {n: start(folder, n, token_file) for n in (1, 2)}
    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    lat: dict[int, list[float]] = {1: [], 2: []}
    single: list[float] = []
    try:
        for _, port in servers.values():  # warm up
            asyncio.run(drive(port, token, args.clients, 1.0))
        for _ in range(args.rounds):
            for n, (server, port) in servers.items():
                before = cpu_seconds(server.pid)
                count, latencies = asyncio.run(drive(port, token, args.clients, args.seconds))
                cpu[n].append((cpu_seconds(server.pid) - before) / count)
                rates[n].append(count / args.seconds)
                lat[n] += latencies
            _, one = asyncio.run(drive(servers[1][1], token, 1, args.seconds / 2))
            single += one
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=30)
    load = os.getloadavg()
    print(f"T  guardrails serve over HTTP, 100 rules, {args.clients} clients "
          f"(load average {load[0]:.1f}, {os.cpu_count()} cores)")  # fmt: skip
    for n in (1, 2):
        r = statistics.median(rates[n])
        print(f"    --workers {n}: {r:7.0f} req/s   p50 {pct(lat[n], 0.5) * 1e3:5.1f} ms   "
              f"p99 {pct(lat[n], 0.99) * 1e3:5.1f} ms   server CPU {statistics.median(cpu[n]) * 1e3:.2f} ms/call"
              f"   (rounds: {', '.join(f'{x:.0f}' for x in rates[n])})")  # fmt: skip
    print(
        f"    --workers 2 / --workers 1: {statistics.median(rates[2]) / statistics.median(rates[1]):.2f}x"
    )
    ours = our_share_ns(folder)
    served = statistics.median(single) * 1e9
    print("U  our share of one served call (1 client, --workers 1)")
    print(f"    served call as the client sees it: {served / 1e3:8.1f} µs")
    for name, ns in ours.items():
        print(f"    {name:<35} {ns / 1e3:8.1f} µs   {ns / served:6.1%}")
    print(f"    ours in all: {sum(ours.values()) / served:.1%} (target <= 10%); of the server's "
          f"CPU per call ({statistics.median(cpu[1]) * 1e3:.2f} ms at 8 clients): "
          f"{sum(ours.values()) / (statistics.median(cpu[1]) * 1e9):.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
