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
@click.option("--coverage", is_flag=True,
              help="report, per rule, whether the cases make it fire and pass, and each "
              "operand of its when/unless seen true and false")  # fmt: skip
@click.option("--coverage-json", type=click.Path(dir_okay=False, path_type=Path),
              metavar="PATH",
              help="write the coverage as JSON to PATH (implies --coverage)")  # fmt: skip
@click.option("--min-coverage", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="exit 1 when the share of coverage goals met is below PERCENT "
              "(implies --coverage)")  # fmt: skip
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="write a JUnit XML report to PATH (one test case per corpus case)")  # fmt: skip
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="write a JSON report to PATH: per case its hook, name, outcome, "
              "passed and failure message")  # fmt: skip
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def test_(
    ctx: click.Context,
    rules: Path,
    corpus: Path,
    update: bool,
    coverage: bool,
    coverage_json: Path | None,
    min_coverage: float | None,
    junit_xml: Path | None,
    report_json: Path | None,
    pytest_args: tuple[str, ...],
) -> None:
    """Run the snapshot corpus for RULES through pytest; the exit code is pytest's.

    A missing RULES path or corpus is a usage error (exit 2), found before pytest runs.

    Extra arguments after `--` go to pytest (e.g. `-- -k tool_pre_invoke -x`).
    Needs the `test` extra: pip install 'guardrails-rules[test]'.
    """
    import subprocess

    if str(rules).startswith("-"):  # `guardrails test -- -k x`: pytest's, not RULES
        rules, pytest_args = Path("rules"), (str(rules), *pytest_args)

    from ..extras import MissingExtra, require

    try:  # in the interpreter pytest will run in: this one
        require("test", "guardrails test", "pytest", "syrupy")
    except MissingExtra as err:
        click.echo(f"error: {err}", err=True)
        ctx.exit(1)
    if not corpus.is_dir():  # usage errors exit 2, as every command's do
        raise click.BadParameter(f"corpus directory {corpus} not found", ctx, param_hint="--corpus")
    if not rules.exists():
        raise click.BadParameter(f"{rules} not found", ctx, param_hint="RULES")
    args = [
        sys.executable, "-m", "pytest", str(corpus),
        f"--rootdir={Path.cwd()}",
        f"--guardrails-rules={rules}", f"--guardrails-corpus={corpus}",
        "-p", "no:cacheprovider", "-q",
    ]  # fmt: skip
    if update:
        args.append("--snapshot-update")
    if coverage:
        args.append("--guardrails-coverage")
    if coverage_json is not None:
        args.append(f"--guardrails-coverage-json={coverage_json}")
    if min_coverage is not None:
        args.append(f"--guardrails-min-coverage={min_coverage}")
    if junit_xml is not None:
        args.append(f"--junitxml={junit_xml}")
    if report_json is not None:
        args.append(f"--guardrails-report-json={report_json}")
    proc = subprocess.run([*args, *pytest_args], check=False)
    ctx.exit(proc.returncode)
