"""docs/rollout.md's walk-through, run as written: each `$ ` command in order, its
output compared with the page's (times and call ids aside), in-process."""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import shlex
import sys
from pathlib import Path

from click.testing import CliRunner

from guardrails.tooling.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "rollout.md"
EXITS = {"report": 0, "replay": 1, "promote": 0}  # replay: verdicts changed / unjudged


def _steps() -> list[tuple[str, list[str]]]:
    """(command, the output lines the page shows under it)."""
    steps: list[tuple[str, list[str]]] = []
    fence: str | None = None  # the open block's language ("" for a plain one)
    shell = False  # the open block is commands and their output
    for line in DOC.read_text().splitlines():
        if line.startswith("```"):
            fence, shell = (line[3:], False) if fence is None else (None, False)
        elif fence == "" and line.startswith("$ "):
            steps.append((line[2:], []))
            shell = True
        elif shell:
            steps[-1][1].append(line)
    return steps


def _normal(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        timeless = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "TIME", line)
        out.append(re.sub(r"\b[0-9a-f]{16}\b", "ID", timeless).rstrip())
    return out


def test_every_command_of_the_rollout_walkthrough_works_and_prints_what_it_shows(
    tmp_path, monkeypatch
):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    steps = _steps()
    assert [shlex.split(c)[:2] for c, _ in steps] == [
        ["python", "examples/rollout/traffic.py"],
        ["guardrails", "report"],
        ["guardrails", "replay"],
        ["guardrails", "replay"],
        ["guardrails", "promote"],
    ]
    for command, shown in steps:
        argv = shlex.split(command)
        if argv[0] == "python":
            monkeypatch.setattr(sys, "argv", argv[1:])
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                runpy.run_path(argv[1], run_name="__main__")
            printed = out.getvalue()
        else:
            result = CliRunner().invoke(main, argv[1:])
            assert result.exit_code == EXITS[argv[1]], (command, result.output)
            printed = result.output
        assert _normal(printed.splitlines()) == _normal(shown), command
