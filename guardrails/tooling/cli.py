"""The `guardrails` command line: check, check-config, hooks and fmt here; eval, test,
serve and compile from tooling/<command>_cli.py, and the rollout commands from
tooling/rollout/cli.py.

Commands parse options and print; what they print is built elsewhere (the policy,
tooling modules, adapters/cpex for `serve`), so the cli modules are the only ones that
import click.

Exit codes: 0 success; 1 the rules have errors (check, eval) or the input payload
is unusable; 2 usage errors (click's own).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..check.catalog import DEFAULT_CATALOG
from ..diagnostics import (
    CODES,
    has_errors,
    render_json,
)
from ..policy.policy import check as check_paths
from . import compile_cli, eval_cli, init_cli, serve_cli, test_cli
from .hooklist import hooks_json, hooks_markdown, hooks_text
from .rollout import cli as rollout_cli
from .shared_cli import host_functions, render_diagnostics


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="guardrails-rules")
def main() -> None:
    """Policy-as-code guardrails for LLM applications."""


main.add_command(rollout_cli.report)
main.add_command(rollout_cli.replay)
main.add_command(rollout_cli.promote)
main.add_command(serve_cli.serve)
main.add_command(compile_cli.compile_)
main.add_command(eval_cli.eval_)
main.add_command(test_cli.test_)
main.add_command(init_cli.init)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text"
)
@click.option("--disable", multiple=True, metavar="CODE", help="switch a lint off (repeatable)")
@click.option("--functions", multiple=True, metavar="MODULE[:ATTR]", help="host functions")
@click.option("--judge", is_flag=True, help="declare the judge's functions (no model)")
@click.pass_context
def check(
    ctx: click.Context, /, paths: tuple[Path, ...], fmt: str, disable: tuple[str, ...], **host: Any
) -> None:
    """Check rules files or directories; exit 1 if any has errors.

    --format sarif for code scanning and editors; github for workflow annotations.
    Rules that call host functions need them declared: --functions MODULE:ATTR, --judge.
    """
    _lint_codes(ctx, disable)
    diags = check_paths(list(paths), disable=disable, **host_functions(ctx, host))
    if fmt == "json":
        click.echo(render_json(diags))
    elif fmt == "sarif":
        from .. import __version__
        from .reporters import render_sarif

        click.echo(render_sarif(diags, __version__))
    elif fmt == "github":
        from .reporters import render_github

        if diags:
            click.echo(render_github(diags))
    elif diags:
        click.echo(render_diagnostics(diags, ctx))
    else:
        click.echo("ok: no problems found")
    ctx.exit(1 if has_errors(diags) else 0)


def _lint_codes(ctx: click.Context, codes: Sequence[str]) -> None:
    """`--disable` takes lint (warning) codes: another code would switch nothing off,
    silently."""
    lints = sorted(c for c in CODES if c.startswith("GR03"))
    for code in codes:
        if code in CODES and code not in lints:
            message = f"{code} is an error, not a lint: errors cannot be switched off"
            raise click.BadParameter(message, ctx, param_hint="--disable")
        if code not in lints:
            close = difflib.get_close_matches(code, lints, n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (lints: {', '.join(lints)})"
            message = f"{code!r} is not a lint code{hint}"
            raise click.BadParameter(message, ctx, param_hint="--disable")


@main.command("check-config")
@click.argument("config", type=click.Path(path_type=Path))
@click.pass_context
def check_config(ctx: click.Context, config: Path) -> None:
    """Check the guardrails entries of a cpex plugins config; exit 1 on errors.

    An error is an entry cpex would load without running its rules (the host's
    `initialize()` fails on those) or one that fails every call. Rules paths are
    relative to the working directory, as in the host.
    """
    from .config_report import report_config

    lines, code = report_config(config)
    for line in lines:
        click.echo(line)
    ctx.exit(code)


@main.command()
@click.argument("hook", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
def hooks(hook: str | None, fmt: str) -> None:
    """List the hooks rules can use, or the facts of one HOOK."""
    if hook is not None and hook not in DEFAULT_CATALOG:
        suggestion = DEFAULT_CATALOG.suggest(hook)
        raise click.BadParameter(
            f"unknown hook {hook!r}" + (f"; did you mean {suggestion!r}?" if suggestion else ""),
            param_hint="HOOK",
        )
    specs = [DEFAULT_CATALOG[hook]] if hook else list(DEFAULT_CATALOG)
    if fmt == "markdown":
        click.echo(hooks_markdown(specs), nl=False)
    elif fmt == "json":
        click.echo(hooks_json(specs))
    else:
        for line in hooks_text(specs, one=hook is not None):
            click.echo(line)


@main.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="change nothing; exit 1 and show a diff")
@click.pass_context
def fmt_(ctx: click.Context, paths: tuple[Path, ...], check_only: bool) -> None:
    """Rewrite rules files in the canonical layout (comments kept)."""
    import difflib

    from .fmt import format_text

    files = sorted({f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.rules")))})
    changed = failed = 0
    for file in files:
        text = file.read_text(encoding="utf-8")
        new, diags = format_text(text, str(file))
        if new is None:
            click.echo(render_diagnostics(diags, ctx), err=True)
            failed += 1
            continue
        if new == text:
            continue
        changed += 1
        if check_only:
            diff = difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                        str(file), f"{file} (formatted)")  # fmt: skip
            click.echo("".join(diff), nl=False)
        else:
            file.write_text(new, encoding="utf-8")
            click.echo(f"formatted {file}")
    verb = "would reformat" if check_only else "reformatted"
    click.echo(f"{changed} file(s) {verb}, {len(files) - changed - failed} unchanged"
               + (f", {failed} with syntax errors" if failed else ""), err=True)  # fmt: skip
    ctx.exit(1 if failed or (check_only and changed) else 0)
