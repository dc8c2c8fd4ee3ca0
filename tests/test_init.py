"""`guardrails init`: the starter project passes its own tests at once (real pytest,
real pre-commit), fails when a rule changes, and init never overwrites a file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from guardrails.tooling.starter import STARTER, plan

ROOT = Path(__file__).resolve().parents[1]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    # not this run's PYTEST_* (under xdist PYTEST_XDIST_WORKER tells syrupy it is a
    # worker, and it prints no snapshot summary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env |= {"NO_COLOR": "1", "PYTHONPATH": str(ROOT),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}  # fmt: skip
    env["PYTEST_ADDOPTS"] = "-p no:hypothesispytest"  # seconds of start-up, unused here
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_init_makes_a_project_that_passes_its_tests_and_fails_when_a_rule_changes(tmp_path):
    made = run(tmp_path, sys.executable, "-m", "guardrails", "init", "shop")
    assert made.returncode == 0, made.stdout + made.stderr
    shop = tmp_path / "shop"
    for rel in [*STARTER, "pyproject.toml", ".pre-commit-config.yaml"]:
        assert (shop / rel).is_file(), rel
    assert "guardrails_rules" in (shop / "pyproject.toml").read_text()

    checked = run(shop, sys.executable, "-m", "guardrails", "check", "rules/")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    passed = run(shop, sys.executable, "-m", "guardrails", "test")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "4 passed" in passed.stdout and "4 snapshots passed" in passed.stdout
    # the pre-commit config runs check and fmt (local hooks: the installed guardrails)
    if shutil.which("git") is not None:
        run(shop, "git", "init", "-q")
        run(shop, "git", "add", ".")
        hooks = run(shop, sys.executable, "-m", "pre_commit", "run", "--all-files")
        assert hooks.returncode == 0, hooks.stdout + hooks.stderr
        assert "guardrails check" in hooks.stdout and "guardrails fmt" in hooks.stdout

    rules = shop / "rules" / "tools.rules"
    rules.write_text(rules.read_text().replace('block "no shell', 'warn "no shell'))
    # plain pytest reads the same config as `guardrails test`
    failed = run(shop, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "expected 'block by deny_shell', got 'allow'" in failed.stdout
    assert "1 failed, 3 passed" in failed.stdout

    again = run(tmp_path, sys.executable, "-m", "guardrails", "init", "shop")
    assert again.returncode == 2
    assert "nothing written" in again.stderr and "shop/rules/tools.rules" in again.stderr
    assert 'warn "no shell' in rules.read_text()  # the user's edit survives


def test_an_existing_pytest_config_is_left_alone_and_init_says_what_to_add(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    todo = plan(tmp_path)
    assert "pyproject.toml" not in todo.files and "pytest.ini" not in todo.files
    assert ".pre-commit-config.yaml" not in todo.files
    assert any('guardrails_rules = "rules"' in note for note in todo.notes)
    assert any("guardrails-check" in note for note in todo.notes)


def test_a_pyproject_without_pytest_config_gets_a_pytest_ini_beside_it(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    todo = plan(tmp_path)
    assert "pyproject.toml" not in todo.files
    assert todo.files["pytest.ini"].startswith("[pytest]\nguardrails_rules")


def test_a_tox_ini_pytest_section_counts_as_config(tmp_path):
    (tmp_path / "tox.ini").write_text("[pytest]\naddopts = -q\n")
    todo = plan(tmp_path)
    assert not {"pyproject.toml", "pytest.ini"} & set(todo.files)
    assert any(note.startswith("tox.ini configures pytest") for note in todo.notes)


def test_the_starter_rule_is_the_one_docs_testing_walks_through():
    assert STARTER["rules/tools.rules"] in (ROOT / "docs" / "testing.md").read_text()


def test_quiet_init_prints_only_what_is_left_to_do(tmp_path):
    from click.testing import CliRunner

    from guardrails.tooling.cli import main

    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    result = CliRunner().invoke(main, ["-q", "init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("note: pyproject.toml configures pytest already")
    assert "created" not in result.output and (tmp_path / "rules" / "tools.rules").is_file()
    assert (tmp_path / "pyproject.toml").read_text() == "[tool.pytest.ini_options]\n"
