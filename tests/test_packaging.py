"""The wheel ships the grammar and works from a normal (non-editable) install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    (built,) = out.glob("guardrails_rules-*.whl")
    return built


def test_wheel_contains_grammar(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "guardrails/syntax/rules.lark" in names
        shipped = zf.read("guardrails/syntax/rules.lark").decode()
    assert shipped == (ROOT / "grammar" / "rules.lark").read_text()
    assert not any(n.startswith("tests/") for n in names)


def test_installed_wheel_loads_rules_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    rules = tmp_path / "r.rules"
    rules.write_text("on generation_pre_call when tokens > 10 block\n")
    code = (
        "import guardrails, sys\n"
        "assert guardrails.__file__.startswith(sys.argv[1]), guardrails.__file__\n"
        "p = guardrails.load(sys.argv[2])\n"
        "print(p.evaluate('generation_pre_call', {'tokens': 11}).outcome)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(site), str(rules)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "block"
