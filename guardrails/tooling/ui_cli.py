"""`guardrails ui`: the local web console (docs/console.md).

Options are checked and the socket bound here; the app is tooling/console/. Starlette
and uvicorn are imported only once the command runs, so without the `ui` extra the
command says which extra to install.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import click

from .shared_cli import host_functions

LOOPBACK = ("127.0.0.1", "localhost")


@click.command("ui")
@click.argument("rules", type=click.Path(exists=True, path_type=Path))
@click.option("--decisions", multiple=True, metavar="LOG",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="decision logs (JSON lines) for the dashboard (repeatable)")  # fmt: skip
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="the corpus directory (one folder per hook)")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to bind: loopback only (127.0.0.1 or localhost)")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="port (0: any free one)")  # fmt: skip
@click.option("--write", is_flag=True,
              help="allow saving rules and corpus cases (in RULES, --corpus)")  # fmt: skip
@click.option("--no-open", is_flag=True, help="do not open a browser")
@click.option("--functions", multiple=True, metavar="MODULE[:ATTR]", help="host functions")
@click.option("--judge", is_flag=True, help="declare the judge's functions (no model)")
@click.pass_context
def ui(
    ctx: click.Context,
    /,
    rules: Path,
    decisions: tuple[Path, ...],
    corpus: Path | None,
    host: str,
    port: int,
    write: bool,
    no_open: bool,
    **functions: Any,
) -> None:
    """Open a local web console: a playground for RULES, the corpus and a rollout
    dashboard from decision logs.

    It listens on 127.0.0.1 only; the printed URL carries a random token every request
    needs. Read-only unless --write. Stop it with Ctrl-C. Needs the `ui` extra:
    pip install 'guardrails-rules[ui]'.
    """
    if host not in LOOPBACK:
        raise click.BadParameter(
            f"{host!r} is not loopback: the console serves this machine only "
            "(use 127.0.0.1; to reach it from elsewhere, forward the port over SSH)",
            ctx,
            param_hint="--host",
        )
    from ..extras import missing_extra

    try:
        from .console.server import bind, opener, run, url
        from .console.state import ConsoleState
    except ImportError as err:
        click.echo(f"error: {missing_extra('ui', 'guardrails ui', err)}", err=True)
        ctx.exit(1)
    state = ConsoleState(
        rules=rules.resolve(),
        token=secrets.token_urlsafe(32),
        decisions=tuple(p.resolve() for p in decisions),
        corpus=corpus.resolve() if corpus is not None else None,
        write=write,
        options=host_functions(ctx, functions),
        label=str(rules),
    )
    try:
        sock = bind(port)
    except OSError as err:
        raise click.BadParameter(
            f"cannot listen on 127.0.0.1:{port}: {err.strerror or err} (try --port 0)",
            ctx,
            param_hint="--port",
        ) from None
    address = url(sock, state.token)
    click.echo(f"guardrails ui: {address}")
    click.echo("  (read-write: saving is on)" if write else "  (read-only; --write to save)")
    sys.stdout.flush()
    page = None if no_open else opener(address)
    # uvicorn stops on SIGTERM, then raises it again: as an exit, so `finally` runs
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if page is not None:
            import webbrowser

            webbrowser.open(page.as_uri())  # never the URL itself: see opener()
        run(state, sock)
    finally:
        if page is not None:
            shutil.rmtree(page.parent, ignore_errors=True)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)
