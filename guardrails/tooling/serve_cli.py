"""`guardrails serve`: the rules as cpex external plugins, over stdio or HTTP.

Options are validated here, before cpex's runtime (a two-second import) starts; the
server itself is adapters/cpex/serve.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..diagnostics import GuardrailsError, RulesError, render_text
from ..policy.policy import load


@click.command()
@click.argument("rules", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True
)
@click.option("--uds", type=click.Path(path_type=Path), help="serve HTTP on this unix socket")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address to bind")
@click.option("--port", type=int, default=8000, show_default=True, help="HTTP port")
@click.option(
    "--token-file",
    type=click.Path(path_type=Path),
    help="the HTTP token, in a file of mode 0600 (else $GUARDRAILS_SERVE_TOKEN)",
)
@click.option(
    "--token-out",
    type=click.Path(path_type=Path),
    help="write the generated token here (mode 0600), not to stderr",
)
@click.option(
    "--no-auth", is_flag=True, help="no token: only with --uds in a directory only you can enter"
)
@click.option("--shadow", is_flag=True, help="turn every block into a would-block")
@click.option(
    "--records", type=click.Path(path_type=Path), help="append decision records (JSON lines)"
)
@click.option("--watch", is_flag=True, help="reload when a rules file changes")
@click.option(
    "--state",
    default="memory",
    show_default=True,
    metavar="STORE",
    help="where stateful rules keep counts: memory (this process) or a redis:// URL "
    "shared by replicas (docs/state.md)",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="HTTP server processes on one port or socket (rules that remember need "
    "--state redis://...)",
)
@click.pass_context
def serve(
    ctx: click.Context,
    rules: Path,
    transport: str,
    uds: Path | None,
    host: str,
    port: int,
    token_file: Path | None,
    token_out: Path | None,
    no_auth: bool,
    shadow: bool,
    records: Path | None,
    watch: bool,
    state: str,
    workers: int,
) -> None:
    """Serve RULES as cpex external plugins (MCP over stdio or HTTP), one per mode.

    Clients add one entry per mode: over stdio `kind: external`, named
    `guardrails-<mode>`; over HTTP `kind: guardrails.adapters.remote.RemoteRules`,
    which fails closed while the server is away (see docs/hosts.md). The rules are
    checked before the server starts. Over HTTP every request needs the token
    (`Authorization: Bearer` or `?access_token=`); without --token-file or
    $GUARDRAILS_SERVE_TOKEN one is generated, on loopback only. With --state
    redis://... every server process naming that Redis shares the counts. With
    --workers N, N processes answer on the one port or socket (HTTP only).
    """
    import os

    from ..adapters.cpex.serve import TOKEN_ENV
    from ..adapters.cpex.serve_config import serve_config, server_command, write_serve_config

    if transport != "http" and (token_file or token_out or no_auth or host != "127.0.0.1"):
        raise click.UsageError("--host, --token-file, --token-out, --no-auth need --transport http")
    if transport != "http" and workers > 1:
        raise click.UsageError(
            "--workers needs --transport http: a stdio server is the child of the one client "
            "that started it (each stdio client starts its own)"
        )
    try:
        policy = load(rules, shadow=shadow, state=state)
    except RulesError as err:
        click.echo(render_text(err.diagnostics), err=True)
        ctx.exit(1)
    except GuardrailsError as err:  # a --state the server could not use
        raise click.BadParameter(str(err), param_hint="--state") from None
    if workers > 1 and state == "memory":
        _refuse_split_state(policy, workers)
    env = dict(os.environ)
    token = env.pop(TOKEN_ENV, None)
    if transport == "http":
        token = _serve_token(host, port, uds, token_file, token, token_out, no_auth)
    config = write_serve_config(
        serve_config(policy, rules.resolve(), shadow, records, watch, state, workers)
    )
    argv, env = server_command(config, env, transport, host, port, uds, token, workers)
    os.execve(sys.executable, argv, env)


def _refuse_split_state(policy: Any, workers: int) -> None:
    """A usage error if rules the server runs remember: each worker would count alone."""
    in_cpex = policy.catalog.in_cpex
    stateful = [p for p in policy.compiled.programs if p.states and any(map(in_cpex, p.hooks))]
    if stateful:
        states = sorted({s for p in stateful for s in p.states})
        raise click.UsageError(
            f"--workers {workers} with --state memory: rules {', '.join(p.id for p in stateful)} "
            f"use state ({', '.join(states)}), and each worker process would count on its "
            f"own (a limit of 5 would let up to {5 * workers} calls through); keep the "
            "counts in Redis (--state redis://..., docs/state.md) or serve with --workers 1"
        )


def _serve_token(
    host: str,
    port: int,
    uds: Path | None,
    token_file: Path | None,
    env_token: str | None,
    token_out: Path | None,
    no_auth: bool,
) -> str | None:
    """The HTTP server's token (None for --no-auth), or a usage error saying why not."""
    import os

    from ..adapters.cpex.serve import TokenError, choose_token, is_loopback, write_token_file

    where = f"unix socket {uds}" if uds is not None else f"{host}:{port}"
    try:
        token, generated = choose_token(host, uds, token_file, env_token, no_auth, token_out)
        if token is not None and generated and token_out is not None:
            write_token_file(token_out, token)
    except TokenError as err:
        raise click.UsageError(str(err)) from None
    if generated:
        shown = f"written to {token_out}" if token_out is not None else token
        click.echo(f"guardrails serve: generated token for {where}: {shown}", err=True)
    if uds is None and not is_loopback(host) and not os.environ.get("PLUGINS_SERVER_SSL_ENABLED"):
        click.echo(
            f"guardrails serve: warning: {host} is not loopback and TLS is off "
            "(PLUGINS_SERVER_SSL_*): the token crosses the network in clear text",
            err=True,
        )
    return token
