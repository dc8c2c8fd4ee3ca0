"""What `guardrails serve` execs: a cpex plugins config for the rules, and the command.

The server is cpex's own MCP runtime (or, over HTTP, serve.py in front of it), so
the rules reach it the way every cpex host gets plugins: a YAML config naming one
`guardrails.cpex.RulesPlugin` per mode, each with the hooks its rules serve. The
config is written to a fresh private directory, because the server process reads it
after the command has exec'd. Standard library only: the command line builds this
before cpex's two-second import starts.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .serve import TOKEN_ENV

STDIO_SERVER = "cpex.framework.external.mcp.server.runtime"
HTTP_SERVER = "guardrails.adapters.cpex.serve"


def serve_config(
    policy: Any,
    rules: Path,
    shadow: bool,
    records: Path | None = None,
    watch: bool = False,
    state: str = "memory",
    workers: int = 1,
) -> str:
    """A cpex config serving `policy`: one guardrails.cpex.RulesPlugin per mode.

    `state` (a redis:// URL) goes into every entry, so the server's entries, and
    every server naming the same Redis, count in one place. `workers` (N > 1) too:
    with state in memory, a reload that brings rules that remember is refused."""
    lines = ["plugins:"]
    extra = f", records: {json.dumps(str(records.resolve()))}" if records else ""
    extra += ", watch: true" if watch else ""
    extra += f", state: {json.dumps(state)}" if state != "memory" else ""
    extra += f", workers: {workers}" if workers > 1 else ""
    modes: dict[str, tuple[set[str], int]] = {}
    for prog in policy.compiled.programs:
        hooks, priority = modes.get(prog.mode, (set(), prog.priority))
        served = [h for h in prog.hooks if policy.catalog.in_cpex(h)]
        if served:
            modes[prog.mode] = (hooks | set(served), min(priority, prog.priority))
    for mode, (hooks, priority) in sorted(modes.items()):
        lines += [
            f"  - name: guardrails-{mode}",
            "    kind: guardrails.cpex.RulesPlugin",
            f"    hooks: [{', '.join(sorted(hooks))}]",
            f"    mode: {mode}",
            f"    priority: {priority}",
            f"    config: {{rules: {json.dumps(str(rules))}, others: skip, "
            f"shadow: {str(shadow).lower()}{extra}}}",
        ]
    return "\n".join(lines) + "\n"


def write_serve_config(text: str) -> Path:
    """A config's text (`serve_config(...)`) in a new private directory (a Redis URL may
    hold a password); the path of the file."""
    config = Path(tempfile.mkdtemp(prefix="guardrails-serve-")) / "plugins.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def server_command(
    config: Path,
    env: Mapping[str, str],
    transport: str,
    host: str,
    port: int,
    uds: Path | None,
    token: str | None,
    workers: int = 1,
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of the server process for `config`.

    `token` None over HTTP means no authentication (`--no-auth`); `env` must not
    carry a token of its own. `workers` > 1 (HTTP only) makes it the supervisor of
    that many server processes.
    """
    env = {**env, "PLUGINS_CONFIG_PATH": str(config), "PLUGINS_TRANSPORT": transport}
    module = ["-m", STDIO_SERVER]
    if transport == "http":
        env["PLUGINS_SERVER_HOST"] = host
        env["PLUGINS_SERVER_PORT"] = str(port)
        if uds is not None:
            env["PLUGINS_SERVER_UDS"] = str(uds.resolve())
        module = ["-m", HTTP_SERVER]
        if workers > 1:
            module += ["--workers", str(workers)]
        if token is None:
            module.append("--no-auth")
        else:
            env[TOKEN_ENV] = token
    return [sys.executable, *module], env
