"""`guardrails test`: the snapshot corpus through pytest."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("test")
@click.argument("rules", required=False, default="rules", type=click.Path(path_type=Path))
@click.option("--corpus", type=click.Path(path_type=Path), default=Path("tests/corpus"),
              show_default=True, help="corpus directory: <corpus>/<hook>/<case>.json")  # fmt: skip
@click.option("--update", is_flag=True, help="rewrite the snapshots (expectations still apply)")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def test_(
    ctx: click.Context, rules: Path, corpus: Path, update: bool, pytest_args: tuple[str, ...]
) -> None:
    """Run the snapshot corpus for RULES through pytest; the exit code is pytest's.

    Extra arguments after `--` go to pytest (e.g. `-- -k tool_pre_invoke -x`).
    """
    import subprocess

    if not corpus.is_dir():
        click.echo(f"error: corpus directory {corpus} not found", err=True)
        ctx.exit(4)
    args = [
        sys.executable, "-m", "pytest", str(corpus),
        f"--rootdir={Path.cwd()}",
        f"--guardrails-rules={rules}", f"--guardrails-corpus={corpus}",
        "-p", "no:cacheprovider", "-q",
    ]  # fmt: skip
    if update:
        args.append("--snapshot-update")
    proc = subprocess.run([*args, *pytest_args], check=False)
    ctx.exit(proc.returncode)
