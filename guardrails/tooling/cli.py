"""The `guardrails` command line: check, check-config, eval, test, hooks, fmt, with
`serve` and `compile` from tooling/serve_cli.py and compile_cli.py, and the rollout
commands from tooling/rollout/cli.py.

Commands parse options and print; what they print is built elsewhere (the policy,
tooling modules, adapters/cpex for `serve`), so the cli modules are the only ones that
import click.

Exit codes: 0 success; 1 the rules have errors (check, eval) or the input payload
is unusable; 2 usage errors (click's own).
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..check.catalog import DEFAULT_CATALOG
from ..diagnostics import (
    CODES,
    Diagnostic,
    GuardrailsError,
    RulesError,
    has_errors,
    render_json,
    render_text,
)
from ..policy.policy import check as check_paths
from ..policy.policy import load
from . import compile_cli, serve_cli
from .eval_text import (
    PayloadError,
    evaluate,
    format_state,
    format_verdict,
    read_payload,
)
from .hooklist import hooks_json, hooks_markdown, hooks_text
from .hostspec import host_options
from .rollout import cli as rollout_cli


def _use_color(ctx: click.Context) -> bool:
    """Color when asked (`--color` via click) or when writing to a terminal."""
    return ctx.color if ctx.color is not None else sys.stdout.isatty()


def _click_style(text: str, colour: str) -> str:
    return click.style(text, fg=colour)


def _render_diagnostics(diags: Sequence[Diagnostic], ctx: click.Context) -> str:
    """Diagnostics as text, the source lines highlighted when in colour."""
    if not _use_color(ctx):
        return render_text(diags)
    try:
        from .highlight import highlight_line
    except ImportError:  # no Pygments: colour without highlighting
        return render_text(diags, color=True, highlight=lambda line: line)
    return render_text(diags, color=True, highlight=highlight_line)


def _host(ctx: click.Context, host: dict[str, Any]) -> dict[str, Any]:
    try:  # --functions MODULE[:ATTR] (repeatable), --judge: the host functions rules call
        return host_options(host["functions"], host["judge"])
    except GuardrailsError as err:
        raise click.BadParameter(str(err), ctx, param_hint="--functions") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="guardrails-rules")
def main() -> None:
    """Policy-as-code guardrails for LLM applications."""


main.add_command(rollout_cli.report)
main.add_command(rollout_cli.replay)
main.add_command(rollout_cli.promote)
main.add_command(serve_cli.serve)
main.add_command(compile_cli.compile_)


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
    diags = check_paths(list(paths), disable=disable, **_host(ctx, host))
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
        click.echo(_render_diagnostics(diags, ctx))
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


@main.command("eval")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--hook", help="hook to evaluate, e.g. generation_pre_call (default: the case file's)"
)
@click.option("--payload", required=True, type=click.File("r"),
              help="JSON file of facts, or - for standard input")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--shadow", is_flag=True, help="turn every block into a would-block")
@click.option("--functions", multiple=True, metavar="MODULE[:ATTR]",
              help="host functions the rules call (they run)")  # fmt: skip
@click.option("--explain", is_flag=True, help="show each sub-condition and the facts it saw")
@click.option("--state", "state_file", type=click.File("r"),
              help="JSON of prior state, as a corpus case's `state` (docs/testing.md)")  # fmt: skip
@click.option("--now", help="the call's time, ISO 8601 (default: the case's, or the clock)")
@click.pass_context
def eval_(
    ctx: click.Context,
    path: Path,
    hook: str | None,
    payload: Any,
    fmt: str,
    shadow: bool,
    explain: bool,
    state_file: Any,
    now: str | None,
    functions: tuple[str, ...],
) -> None:
    """Evaluate the rules at PATH for one hook call (state starts empty, or as given)."""
    host = _host(ctx, {"functions": functions, "judge": False})
    try:
        policy = load(path, shadow=shadow, functions=host["functions"])
    except RulesError as err:
        click.echo(_render_diagnostics(err.diagnostics, ctx), err=True)
        ctx.exit(1)
    try:
        facts, prior = read_payload(payload)
    except PayloadError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    hook = _eval_hook(hook, prior.get("hook"))
    unknown = DEFAULT_CATALOG.unknown_facts(hook, facts)
    if unknown:  # a misspelt fact would be a false pass
        click.echo("\n".join(f"error: payload fact {m}" for m in unknown), err=True)
        ctx.exit(1)
    try:
        result = evaluate(policy, hook, facts, prior, state_file, now)
    except PayloadError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    verdict = result.verdict
    explanation = None
    if explain:
        from .explain import explain as explain_verdict

        explanation = explain_verdict(policy, hook, facts, verdict, result.read)
    if fmt == "json":
        data = verdict.to_dict()
        if result.state:
            data["state"] = result.state
        if explanation is not None:
            data["explanation"] = explanation.splitlines()
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        click.echo(format_verdict(verdict, _click_style if _use_color(ctx) else None))
        if result.state:
            click.echo("\n" + format_state(result))
        if explanation is not None:
            click.echo("\n" + explanation)


def _eval_hook(given: str | None, in_file: object) -> str:
    """--hook, else the case file's `hook`; both must agree, and name a known hook."""
    if given is not None and in_file is not None and given != in_file:
        raise click.BadParameter(
            f"{given!r}, but the payload file is a case of {in_file!r}", param_hint="--hook"
        )
    hook = given if given is not None else in_file
    if not isinstance(hook, str):
        raise click.UsageError('give --hook, or a payload file with a "hook"')
    if hook not in DEFAULT_CATALOG:
        suggestion = DEFAULT_CATALOG.suggest(hook)
        raise click.BadParameter(
            f"unknown hook {hook!r}" + (f"; did you mean {suggestion!r}?" if suggestion else ""),
            param_hint="--hook",
        )
    return hook


@main.command("test")
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
            click.echo(_render_diagnostics(diags, ctx), err=True)
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
