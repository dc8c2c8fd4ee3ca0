"""`guardrails init [DIR]`: a starter project that passes its own tests at once."""

from __future__ import annotations

from pathlib import Path

import click

from .shared_cli import is_quiet, quiet_option
from .starter import plan, write


@click.command("init")
@click.argument("directory", required=False, default=".", type=click.Path(path_type=Path))
@quiet_option
@click.pass_context
def init(ctx: click.Context, directory: Path) -> None:
    """Start a project in DIRECTORY that passes its own tests.

    DIRECTORY defaults to here. It gets rules/, a snapshot corpus with its snapshots
    recorded, pytest config and a pre-commit config: `guardrails test` passes at once.

    Existing files are never overwritten: if a starter file exists, nothing is written
    (exit 2). An existing pytest or pre-commit config is left as it is, and init says
    what to add to it.
    """
    if directory.exists() and not directory.is_dir():
        click.echo(f"error: {directory} exists and is not a directory", err=True)
        ctx.exit(2)
    todo = plan(directory)
    if todo.existing:
        click.echo(f"error: {directory} has a starter project's files already; nothing written:",
                   err=True)  # fmt: skip
        for rel in todo.existing:
            click.echo(f"  {directory / rel}", err=True)
        click.echo("(move them away, or init into an empty directory)", err=True)
        ctx.exit(2)
    write(directory, todo.files)
    quiet = is_quiet(ctx)
    for rel in [] if quiet else todo.files:
        click.echo(f"created {directory / rel}")
    for note in todo.notes:  # something left for the user to do: shown even with -q
        click.echo(f"note: {note}", nl=False)
    if not quiet:
        where = "" if directory == Path(".") else f"cd {directory} && "
        click.echo(f"next: {where}guardrails test   (passes: the snapshots are recorded)")
