"""The command-line habits people bring from other linters and policy tools: standard
input for editors, --strict, --fail, exit 2 on usage, colour switches, -q, -V, whole
help lines, and `eval` over a folder of payloads. In process (click's runner)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from guardrails.tooling.cli import main
from guardrails.tooling.shared_cli import use_color

ROOT = Path(__file__).resolve().parents[1]
BLOCKING = 'on tool_pre_invoke when tool.name == "shell" block "no shell" code NO_SHELL\n'
LINTED = "on generation_pre_call when tokens > 10 and tokens < 5 block\n"  # GR0301, a warning


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, env=env or {"NO_COLOR": ""})


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "tools.rules"
    path.write_text(BLOCKING)
    return path


def test_check_reads_standard_input_and_names_it():
    result = cli("check", "--stdin-filename", "buffer.rules", "-", stdin="on h when x block\n")
    assert result.exit_code == 1
    assert result.output.startswith("buffer.rules:1:4: error[GR")
    assert cli("check", "-", stdin=BLOCKING).exit_code == 0


def test_strict_makes_warnings_fail(tmp_path: Path):
    path = tmp_path / "w.rules"
    path.write_text(LINTED)
    assert cli("check", str(path)).exit_code == 0
    strict = cli("check", "--strict", str(path))
    assert strict.exit_code == 1 and "GR0301" in strict.output


def test_fmt_formats_standard_input_to_standard_output():
    result = cli("fmt", "-", stdin='on tool_pre_invoke   when tool.name == "x"  block\n')
    assert (result.exit_code, result.stdout) == (
        0,
        'on tool_pre_invoke when tool.name == "x" block\n',
    )
    check = cli("fmt", "--check", "-", stdin='on tool_pre_invoke   when tool.name == "x"  block\n')
    assert check.exit_code == 1 and "+on tool_pre_invoke when" in check.stdout
    broken = cli("fmt", "-", stdin="on h when x block (\n")
    assert broken.exit_code == 1 and broken.stdout == ""  # an editor keeps its buffer


def test_usage_errors_exit_2_and_rule_errors_exit_1(tmp_path: Path, rules: Path):
    assert cli("check", str(tmp_path / "missing.rules")).exit_code == 2
    assert cli("eval", str(rules), "--payload", str(tmp_path / "none.json")).exit_code == 2
    assert cli("check", "--bogus", str(rules)).exit_code == 2
    bad = tmp_path / "bad.rules"
    bad.write_text("on tool_pre_invoke when tool.nme == 1 block\n")
    assert cli("check", str(bad)).exit_code == 1


def test_quiet_drops_the_success_and_summary_lines(tmp_path: Path, rules: Path):
    assert cli("check", str(rules)).output == "ok: no problems found\n"
    assert cli("check", "-q", str(rules)).output == ""
    assert cli("-q", "check", str(rules)).output == ""
    messy = tmp_path / "messy.rules"
    messy.write_text(BLOCKING.replace(" block", "   block"))
    result = cli("-q", "fmt", str(messy))
    assert (result.exit_code, result.output) == (0, "")
    assert messy.read_text() == BLOCKING


def test_version_short_option():
    result = cli("-V")
    assert result.exit_code == 0 and result.output.startswith("guardrails, version ")


def test_help_lists_whole_first_sentences():
    listing = cli("--help").output.split("Commands:")[1]
    assert "..." not in listing
    assert "Check the guardrails entries of a cpex plugins config; exit 1 on errors." in " ".join(
        listing.split()
    )


def test_colour_switches(rules: Path, tmp_path: Path):
    payload = tmp_path / "p.json"
    payload.write_text(json.dumps({"tool": {"name": "shell", "args": {}}}))
    args = ["eval", str(rules), "--hook", "tool_pre_invoke", "--payload", str(payload)]
    assert "\x1b[" in cli("--color", *args).output
    assert "\x1b[" not in cli("--no-color", *args).output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_wins_over_a_terminal_and_loses_to_color(monkeypatch: pytest.MonkeyPatch):
    ctx = click.Context(main)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(ctx, _Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(ctx, _Terminal())
    ctx.color = True
    assert use_color(ctx, _Terminal())


def test_eval_fail_exits_3_on_a_block_only(rules: Path, tmp_path: Path):
    shell = tmp_path / "shell.json"
    shell.write_text(json.dumps({"hook": "tool_pre_invoke", "facts": {"tool": {"name": "shell"}}}))
    ls = tmp_path / "ls.json"
    ls.write_text(json.dumps({"hook": "tool_pre_invoke", "facts": {"tool": {"name": "ls"}}}))
    assert cli("eval", str(rules), "--payload", str(shell)).exit_code == 0
    assert cli("eval", str(rules), "--payload", str(shell), "--fail").exit_code == 3
    assert cli("eval", str(rules), "--payload", str(ls), "--fail").exit_code == 0
    quiet = cli("eval", "-q", str(rules), "--payload", str(shell), "--fail")
    assert (quiet.exit_code, quiet.output) == (3, "")


def _payload_folder(root: Path) -> Path:
    folder = root / "payloads"
    (folder / "tool_pre_invoke").mkdir(parents=True)
    # the hook from the folder's name, the facts beside the case keys (a corpus case)
    (folder / "tool_pre_invoke" / "shell.json").write_text(
        json.dumps({"description": "d", "tool": {"name": "shell"}})
    )
    # the hook from the file
    (folder / "ls.json").write_text(
        json.dumps({"hook": "tool_pre_invoke", "facts": {"tool": {"name": "ls"}}})
    )
    return folder


def test_eval_over_a_folder_prints_a_row_per_payload(rules: Path, tmp_path: Path):
    folder = _payload_folder(tmp_path)
    table = cli("eval", str(rules), "--payload", str(folder))
    assert table.exit_code == 0
    rows = [line.split() for line in table.output.splitlines()]
    assert ["ls.json", "tool_pre_invoke", "ALLOW"] in rows
    shell = next(r for r in rows if r and r[0] == "tool_pre_invoke/shell.json")
    assert shell[1:3] == ["tool_pre_invoke", "BLOCK"] and shell[-1] == "NO_SHELL"
    assert "2 payload(s): 1 allow, 1 block, 0 modify, 0 error(s)" in table.output
    assert cli("eval", str(rules), "--payload", str(folder), "--fail").exit_code == 3
    data = json.loads(cli("eval", str(rules), "--payload", str(folder), "--format", "json").output)
    assert [(d["file"], d["verdict"]["outcome"]) for d in data] == [
        ("ls.json", "allow"),
        ("tool_pre_invoke/shell.json", "block"),
    ]


def test_a_payload_that_cannot_be_evaluated_fails_the_folder(rules: Path, tmp_path: Path):
    folder = _payload_folder(tmp_path)
    (folder / "nohook.json").write_text(json.dumps({"tool": {"name": "shell"}}))
    (folder / "tool_pre_invoke" / "typo.json").write_text(json.dumps({"tol": {"name": "x"}}))
    result = cli("eval", str(rules), "--payload", str(folder))
    assert result.exit_code == 1
    assert "nohook.json" in result.output and "no hook" in result.output
    assert "typo.json" in result.output and "'tool'" in result.output
    assert "2 error(s)" in result.output


def test_eval_reads_a_corpus_case_with_every_key_the_corpus_reserves(rules: Path, tmp_path: Path):
    """A case with canned judge answers is a corpus case: `judge` is not a fact."""
    case = tmp_path / "tool_pre_invoke" / "judged.json"
    case.parent.mkdir()
    case.write_text(json.dumps({"judge": {}, "expect": "block", "tool": {"name": "shell"}}))
    result = cli("eval", str(rules), "--payload", str(tmp_path / "tool_pre_invoke"))
    assert result.exit_code == 0, result.output
    assert "BLOCK" in result.output
