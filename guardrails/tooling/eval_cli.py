"""`guardrails eval`: one hook call through the rules, printed as a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..check.catalog import DEFAULT_CATALOG
from ..diagnostics import RulesError
from ..policy.policy import load
from .eval_batch import evaluate_folder, format_table
from .eval_text import PayloadError, evaluate, format_state, format_verdict, read_payload
from .shared_cli import (
    click_style,
    host_functions,
    is_quiet,
    quiet_option,
    render_diagnostics,
    use_color,
)


@click.command("eval")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--hook", help="hook to evaluate, e.g. generation_pre_call (default: the case file's)"
)
@click.option("--payload", required=True,
              type=click.Path(exists=True, allow_dash=True, path_type=Path),
              help="JSON file of facts, - for standard input, or a folder of them")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--fail", is_flag=True, help="exit 3 when a call is blocked")
@click.option("--shadow", is_flag=True, help="turn every block into a would-block")
@click.option("--functions", multiple=True, metavar="MODULE[:ATTR]",
              help="host functions the rules call (they run)")  # fmt: skip
@click.option("--explain", is_flag=True, help="show each sub-condition and the facts it saw")
@click.option("--state", "state_file", type=click.File("r"),
              help="JSON of prior state, as a corpus case's `state` (docs/testing.md)")  # fmt: skip
@click.option("--now", help="the call's time, ISO 8601 (default: the case's, or the clock)")
@quiet_option
@click.pass_context
def eval_(
    ctx: click.Context,
    path: Path,
    hook: str | None,
    payload: Path,
    fmt: str,
    fail: bool,
    shadow: bool,
    explain: bool,
    state_file: Any,
    now: str | None,
    functions: tuple[str, ...],
) -> None:
    """Evaluate the rules at PATH for one hook call, or for every payload in a folder.

    State starts empty, or as the case file or --state gives it. Exit codes: 0 done,
    1 the rules or a payload have errors, 2 usage, 3 a call was blocked (--fail).
    """
    host = host_functions(ctx, {"functions": functions, "judge": False})
    try:
        policy = load(path, shadow=shadow, functions=host["functions"])
    except RulesError as err:
        click.echo(render_diagnostics(err.diagnostics, ctx, err=True), err=True)
        ctx.exit(1)
    if payload.is_dir():
        if explain:
            raise click.UsageError("--explain takes one payload file, not a folder")
        state_text = state_file.read() if state_file is not None else None
        rows = list(evaluate_folder(policy, payload, DEFAULT_CATALOG, hook, state_text, now))
        if not rows:
            raise click.BadParameter(f"no *.json files in {payload}", param_hint="--payload")
        if fmt == "json":
            click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        elif not is_quiet(ctx):
            click.echo(format_table(rows))
        blocked = any(r.verdict is not None and r.verdict.outcome == "block" for r in rows)
        ctx.exit(1 if any(r.verdict is None for r in rows) else 3 if fail and blocked else 0)
    try:
        with click.open_file(str(payload), encoding="utf-8") as handle:
            facts, prior = read_payload(handle)
    except (PayloadError, OSError, UnicodeDecodeError) as err:
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
    elif not is_quiet(ctx):
        click.echo(format_verdict(verdict, click_style if use_color(ctx) else None))
        if result.state:
            click.echo("\n" + format_state(result))
        if explanation is not None:
            click.echo("\n" + explanation)
    ctx.exit(3 if fail and verdict.outcome == "block" else 0)


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
