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
import sys
from pathlib import Path
from typing import Any

import click

from ..check.catalog import DEFAULT_CATALOG
from ..diagnostics import (
    has_errors,
    render_json,
    sort_key,
)
from ..policy.policy import check as check_paths
from ..policy.policy import check_text
from . import compile_cli, eval_cli, init_cli, lsp_cli, serve_cli, test_cli, ui_cli
from .hooklist import hooks_json, hooks_markdown, hooks_text
from .rollout import cli as rollout_cli
from .shared_cli import (
    host_functions,
    is_quiet,
    lint_codes,
    quiet_option,
    render_diagnostics,
    set_quiet,
)


class _Group(click.Group):
    """Lists each command with its whole first sentence: click cuts them at 45
    characters, mid-word ("Check the guardrails entries of a cpex plugins config;...")."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(limit=200))
                for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]  # fmt: skip
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    None, "-V", "--version", package_name="guardrails-rules", prog_name="guardrails"
)
@click.option("--color/--no-color", default=None,
              help="colour (default: on a terminal, unless NO_COLOR is set)")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="print problems and results only")
@click.pass_context
def main(ctx: click.Context, color: bool | None, quiet: bool) -> None:
    """Policy-as-code guardrails for LLM applications.

    Exit codes: 0 success; 1 the rules (or the input) have errors; 2 usage errors;
    3 `eval --fail` saw a block. Shell completion: docs/cli.md.
    """
    ctx.color = color  # the commands' contexts inherit it
    set_quiet(ctx, quiet)


main.add_command(rollout_cli.report)
main.add_command(rollout_cli.replay)
main.add_command(rollout_cli.promote)
main.add_command(serve_cli.serve)
main.add_command(compile_cli.compile_)
main.add_command(eval_cli.eval_)
main.add_command(test_cli.test_)
main.add_command(init_cli.init)
main.add_command(lsp_cli.lsp)
main.add_command(ui_cli.ui)


@main.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, allow_dash=True, path_type=Path))  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text"
)
@click.option("--disable", multiple=True, metavar="CODE", help="switch a lint off (repeatable)")
@click.option("--strict", is_flag=True, help="exit 1 on warnings too")
@click.option("--stdin-filename", metavar="NAME", default="<stdin>",
              help="the name diagnostics give rules read from - (standard input)")  # fmt: skip
@click.option("--functions", multiple=True, metavar="MODULE[:ATTR]", help="host functions")
@click.option("--judge", is_flag=True, help="declare the judge's functions (no model)")
@quiet_option
@click.pass_context
def check(
    ctx: click.Context,
    /,
    paths: tuple[Path, ...],
    fmt: str,
    disable: tuple[str, ...],
    strict: bool,
    stdin_filename: str,
    **host: Any,
) -> None:
    """Check rules files or directories (- reads standard input); exit 1 on errors.

    --format sarif for code scanning and editors; github for workflow annotations.
    Rules that call host functions need them declared: --functions MODULE:ATTR, --judge.
    """
    lint_codes(ctx, disable)
    options: dict[str, Any] = {"disable": disable, **host_functions(ctx, host)}
    files = [p for p in paths if str(p) != "-"]
    diags = check_paths(files, **options) if files else []
    if len(files) < len(paths):
        text = sys.stdin.read()
        diags = sorted([*diags, *check_text(text, stdin_filename, **options)], key=sort_key)
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
    elif not is_quiet(ctx):
        click.echo("ok: no problems found")
    ctx.exit(1 if has_errors(diags) or (strict and diags) else 0)


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
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, allow_dash=True, path_type=Path))  # fmt: skip
@click.option("--check", "check_only", is_flag=True, help="change nothing; exit 1 and show a diff")
@click.option("--stdin-filename", metavar="NAME", default="<stdin>",
              help="the name diagnostics give rules read from - (standard input)")  # fmt: skip
@quiet_option
@click.pass_context
def fmt_(
    ctx: click.Context, paths: tuple[Path, ...], check_only: bool, stdin_filename: str
) -> None:
    """Rewrite rules files in the canonical layout (comments kept).

    - formats standard input to standard output, as editors call a formatter."""
    from .fmt import format_text

    if any(str(p) == "-" for p in paths):
        if len(paths) > 1:
            raise click.UsageError("- (standard input) cannot be mixed with files")
        ctx.exit(_fmt_stdin(ctx, stdin_filename, check_only))
    files = sorted({f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*.rules")))})
    changed = failed = 0
    for file in files:
        text = file.read_text(encoding="utf-8")
        new, diags = format_text(text, str(file))
        if new is None:
            click.echo(render_diagnostics(diags, ctx, err=True), err=True)
            failed += 1
            continue
        if new == text:
            continue
        changed += 1
        if check_only:
            click.echo(_diff(text, new, str(file)), nl=False)
        else:
            file.write_text(new, encoding="utf-8")
            if not is_quiet(ctx):
                click.echo(f"formatted {file}")
    verb = "would reformat" if check_only else "reformatted"
    if not is_quiet(ctx):
        click.echo(f"{changed} file(s) {verb}, {len(files) - changed - failed} unchanged"
                   + (f", {failed} with syntax errors" if failed else ""), err=True)  # fmt: skip
    ctx.exit(1 if failed or (check_only and changed) else 0)


def _fmt_stdin(ctx: click.Context, name: str, check_only: bool) -> int:
    """Standard input formatted to standard output; on a syntax error nothing is
    written there (an editor would replace the buffer with it) and the exit is 1."""
    from .fmt import format_text

    text = sys.stdin.read()
    new, diags = format_text(text, name)
    if new is None:
        click.echo(render_diagnostics(diags, ctx, err=True), err=True)
        return 1
    if check_only:
        click.echo(_diff(text, new, name), nl=False)
        return 1 if new != text else 0
    click.echo(new, nl=False)
    return 0


def _diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), name, f"{name} (formatted)"
    )
    return "".join(lines)
