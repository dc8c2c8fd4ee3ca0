"""`guardrails compile`: the ruleset cache built ahead of time, for images and hosts
that should never parse rules at start-up.

The entry is keyed on the rules' display paths and text (see compile/cache.py), so
the host must load the same path string this command was given (run both from the
same working directory), with the same host functions and the default hook catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..compile import cache as rulecache
from ..diagnostics import GuardrailsError, RulesError, render_text
from ..policy.policy import load
from .hostspec import host_options


@click.command("compile")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the cache directory to write (created if needed)",
)
@click.option("--functions", multiple=True, metavar="MODULE[:ATTR]", help="host functions")
@click.option("--judge", is_flag=True, help="declare the judge's functions (no model)")
@click.pass_context
def compile_(
    ctx: click.Context, paths: tuple[Path, ...], output: Path, functions: tuple[str, ...],
    judge: bool,
) -> None:  # fmt: skip
    """Compile rules into a cache directory; exit 1 if they have errors or cannot be
    cached.

    Hosts then load the same paths with `guardrails.load(PATHS, cache=DIR)` or with
    GUARDRAILS_RULES_CACHE=DIR in their environment, and link the compiled rules
    instead of parsing them. The directory must belong to the user who runs the
    host, or to root, and be writable by no one else.
    """
    try:
        host: dict[str, Any] = host_options(functions, judge)
    except GuardrailsError as err:
        raise click.BadParameter(str(err), ctx, param_hint="--functions") from None
    if rulecache.directory(output) is None:
        raise click.UsageError(
            f"{output} cannot hold a trusted cache: it must be a directory owned by you "
            "(or root) that neither group nor others can write"
        )
    shown = [str(p) for p in paths]
    try:
        policy = load(shown if len(shown) > 1 else shown[0], cache=output, **host)
    except RulesError as err:
        click.echo(render_text(err.diagnostics), err=True)
        ctx.exit(1)
    entry = policy.compiled.cache_entry
    if entry is None:
        click.echo(
            "guardrails compile: these rules cannot be cached (a rule holds a value the "
            "cache has no safe form for, such as a detector); hosts compile them at load",
            err=True,
        )
        ctx.exit(1)
    count = len(policy.compiled.programs)
    click.echo(f"compiled {count} rules into {entry}")
