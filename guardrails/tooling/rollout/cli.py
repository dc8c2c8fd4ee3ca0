"""The rollout commands of `guardrails`: report, replay and promote.

They are registered on the main group by tooling/cli.py. Their logic lives beside
them in this package, so that it can be used (and tested) without the command line.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from ...diagnostics import GuardrailsError, RulesError, render_text
from ...policy.policy import load
from .counts import format_report
from .counts import report as build_report
from .promotion import promote as run_promote
from .replays import cases_from_corpus, cases_from_log, format_replay
from .replays import replay as run_replay

# a log argument: click refuses a missing file or a directory (exit 2); the reader
# refuses a file it cannot read or that holds no record (exit 2 as well)
LOG = click.Path(exists=True, dir_okay=False, path_type=Path)


@contextlib.contextmanager
def _unusable_input_exits_2(ctx: click.Context) -> Iterator[None]:
    """Rules with errors or a log that cannot be read exit 2: these commands' 1 is
    their answer (verdicts changed, the gate said no)."""
    try:
        yield
    except RulesError as err:
        click.echo(render_text(err.diagnostics), err=True)
        ctx.exit(2)
    except GuardrailsError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(2)


@click.command()
@click.argument("logs", nargs=-1, required=True, type=LOG)
@click.option("--rules", type=click.Path(path_type=Path), help="list rules that never fired too")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--progress/--no-progress", default=None, help="progress on stderr (default: tty)")
@click.pass_context
def report(
    ctx: click.Context, logs: tuple[Path, ...], rules: Path | None, fmt: str, progress: bool | None
) -> None:
    """Per rule and hook: evaluations, fires by verdict, rate, first/last seen, top codes.

    Exit 2 when a log cannot be read or holds no record; torn or corrupt lines inside
    a log are skipped and counted."""
    show = sys.stderr.isatty() if progress is None else progress

    def tick(n: int) -> None:
        click.echo(f"  ... {n:,} records", err=True)

    with _unusable_input_exits_2(ctx):
        policy = load(rules) if rules is not None else None
        rep = build_report(list(logs), policy, tick if show else None)
    click.echo(json.dumps(rep.to_dict(), indent=2) if fmt == "json" else format_report(rep))


@click.command()
@click.argument("rules", type=click.Path(path_type=Path))
@click.option("--decisions", "logs", multiple=True, type=LOG,
              help="decision log(s) with call records (load(..., capture=...))")  # fmt: skip
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path),
              help="rules to compare with (default: what the log recorded)")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--allow-unreplayable", is_flag=True,
              help="pass even if calls that changed rules read could not be replayed")  # fmt: skip
@click.pass_context
def replay(
    ctx: click.Context,
    rules: Path,
    logs: tuple[Path, ...],
    corpus: Path | None,
    baseline: Path | None,
    fmt: str,
    allow_unreplayable: bool,
) -> None:
    """Re-evaluate recorded calls (or a corpus) with RULES.

    Exit 1 if any verdict changed, or if calls that a changed rule reads could not be
    replayed (a fact it reads was masked; --allow-unreplayable accepts that); 2 on errors.
    """
    if bool(logs) == bool(corpus):
        raise click.UsageError("give --decisions FILE or --corpus DIR (one of them)")
    if corpus is not None and baseline is None:
        raise click.UsageError("replaying a corpus needs --baseline RULES to compare with")
    with _unusable_input_exits_2(ctx):
        candidate = load(rules)
        base = load(baseline) if baseline is not None else None
    try:
        cases = cases_from_log(logs) if logs else cases_from_corpus(corpus)  # type: ignore[arg-type]
    except GuardrailsError as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(2)
    result = run_replay(candidate, cases, base, allow_unreplayable)
    click.echo(json.dumps(result.to_dict(), indent=2) if fmt == "json" else format_replay(result))
    ctx.exit(1 if result.failed else 0)


@click.command()
@click.argument("rule_id")
@click.option("--rules", type=click.Path(path_type=Path), default=Path("rules"), show_default=True)
@click.option("--decisions", "logs", multiple=True, required=True, type=LOG)
@click.option("--max-rate", type=float, required=True, help="highest would-block rate allowed")
@click.option("--min-samples", type=int, required=True, help="fewest evaluations needed")
@click.option("--to", "to_mode", default="sequential", show_default=True,
              type=click.Choice(["sequential", "concurrent"]))  # fmt: skip
@click.option("--dry-run", is_flag=True, help="show the diff, change nothing")
@click.pass_context
def promote(
    ctx: click.Context,
    rule_id: str,
    rules: Path,
    logs: tuple[Path, ...],
    max_rate: float,
    min_samples: int,
    to_mode: str,
    dry_run: bool,
) -> None:
    """Turn RULE_ID's `mode audit` into an enforcing mode, if the log says it is safe."""
    with _unusable_input_exits_2(ctx):
        result = run_promote(rules, rule_id, list(logs), max_rate, min_samples, to_mode, dry_run)
    rate = f"{result.rate:.2%}" if result.rate is not None else "n/a"
    click.echo(f"{rule_id}: {result.would_blocks} would-blocks in {result.evaluations} evaluations "
               f"({rate}); gate: rate <= {max_rate:.2%}, samples >= {min_samples}")  # fmt: skip
    if not result.allowed:
        for reason in result.reasons:
            click.echo(f"not promoted: {reason}")
        ctx.exit(1)
    click.echo(result.diff, nl=False)
    click.echo("dry run: nothing written" if dry_run else f"promoted: {result.file} updated")
