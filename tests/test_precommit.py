"""The pre-commit hooks, run by pre-commit itself against a sample repository.

pre-commit clones this repository at HEAD and installs it into its own environment,
so this test exercises `.pre-commit-hooks.yaml` the way a user's repository would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def head() -> str:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs this repository's git history")
    return git(ROOT, "rev-parse", "HEAD").strip()


def test_hooks_check_and_format_a_sample_repo(tmp_path, head):
    repo = tmp_path / "sample"
    (repo / "rules").mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "rules" / "a.rules").write_text("let tools = ['shell']\n")
    (repo / "rules" / "b.rules").write_text("on tool_pre_invoke   when tool.name in tools block\n")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT}\n    rev: {head}\n    hooks:\n"
        "      - id: guardrails-check\n      - id: guardrails-fmt\n"
    )
    git(repo, "add", ".")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    env.pop("VIRTUAL_ENV", None)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo,
                              capture_output=True, text=True, env=env, timeout=900)  # fmt: skip

    first = run()
    assert first.returncode == 1, first.stdout + first.stderr
    assert "guardrails check" in first.stdout and "guardrails fmt" in first.stdout
    assert (
        repo / "rules" / "b.rules"
    ).read_text() == "on tool_pre_invoke when tool.name in tools block\n"
    git(repo, "add", ".")
    second = run()
    assert second.returncode == 0, second.stdout + second.stderr  # formatted, and the lets resolve
    (repo / "rules" / "b.rules").write_text("on tool_pre_invoke when tool.nme in tools block\n")
    git(repo, "add", ".")
    third = run()
    assert third.returncode == 1 and "error[GR0201]" in third.stdout
