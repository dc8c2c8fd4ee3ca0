"""`guardrails test` for CI: coverage, JUnit XML and a JSON report, through real pytest
runs in subprocesses (batched: one run checks every report), and the message a
missing `[test]` extra gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

RULES = """
rule deny_shell on tool_pre_invoke when tool.name == "shell" unless user.role == "admin"
  block "no shell" code NO_SHELL
rule never_fires on tool_pre_invoke when tool.name == "zzz" warn "never"
"""
CASES = {
    "guest_shell": {
        "expect": "block by deny_shell",
        "facts": {"tool": {"name": "shell"}, "user": {"role": "guest"}},
    },
    "admin_shell": {
        "expect": "block",
        "facts": {"tool": {"name": "shell"}, "user": {"role": "admin"}},
    },
}


def project(root):
    (root / "rules").mkdir()
    (root / "rules" / "tools.rules").write_text(RULES)
    hook = root / "tests" / "corpus" / "tool_pre_invoke"
    hook.mkdir(parents=True)
    for name, case in CASES.items():
        (hook / f"{name}.json").write_text(json.dumps(case))


def guardrails(root, *args, prelude=""):
    code = f"{prelude}import sys; from guardrails.tooling.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, "test", *args], cwd=root,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_coverage_junit_and_json_reports_from_one_run(tmp_path):
    project(tmp_path)
    run = guardrails(
        tmp_path, "--update", "--coverage-json", "out/coverage.json", "--junit-xml",
        "out/junit.xml", "--report-json", "out/report.json",
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr  # admin_shell expects a block
    out = run.stdout
    assert "guardrails coverage" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["deny_shell"] == ["2", "1", "1", "1/2", "5/6"]  # cases fired passed operands goals
    # skipped on guest_shell (blocked before it): it passes on one case only
    assert rows["never_fires"] == ["2", "0", "1", "0/1", "2/4"]
    assert 'when tool.name == "shell": never false' in out
    assert 'when tool.name == "zzz": never true' in out
    assert "rules no case fires: never_fires" in out

    cases = {c.get("name"): c for c in ET.parse(tmp_path / "out" / "junit.xml").iter("testcase")}
    assert set(cases) == {"tool_pre_invoke/guest_shell", "tool_pre_invoke/admin_shell"}
    assert cases["tool_pre_invoke/admin_shell"].get("classname") == "guardrails.tool_pre_invoke"
    (failure,) = cases["tool_pre_invoke/admin_shell"].iter("failure")
    assert "expected 'block', got 'allow'" in failure.get("message", "") + (failure.text or "")
    assert list(cases["tool_pre_invoke/guest_shell"]) == []

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (report["passed"], report["failed"]) == (1, 1)
    by_id = {c["id"]: c for c in report["cases"]}
    guest, admin = by_id["tool_pre_invoke/guest_shell"], by_id["tool_pre_invoke/admin_shell"]
    assert guest == {
        "id": "tool_pre_invoke/guest_shell", "hook": "tool_pre_invoke", "case": "guest_shell",
        "file": "tests/corpus/tool_pre_invoke/guest_shell.json", "outcome": "block by deny_shell code NO_SHELL", "passed": True,
        "message": None,
    }  # fmt: skip
    assert (admin["outcome"], admin["passed"]) == ("allow", False)
    assert "expected 'block', got 'allow'" in admin["message"]

    coverage = json.loads((tmp_path / "out" / "coverage.json").read_text())
    assert (coverage["cases"], coverage["never_fired"]) == (2, ["never_fires"])
    deny = coverage["rules"][0]
    assert (deny["rule"], deny["location"]) == ("deny_shell", "rules/tools.rules:2")
    assert (deny["fired"], deny["passed"]) == (1, 1)
    assert deny["operands"][1] == {
        "clause": "unless",
        "operand": 'user.role == "admin"',
        "true": 1,
        "false": 1,
    }
    assert (coverage["goals_met"], coverage["goals"]) == (6 + 1, 6 + 4)

    # the passing case alone: every test passes, so the coverage decides the exit code
    # (3 of deny_shell's 6 goals; never_fires is skipped: 0 of 4)
    low = guardrails(tmp_path, "--min-coverage", "40", "--", "-k", "guest_shell")
    assert low.returncode == 1, low.stdout
    assert "1 passed, 1 deselected" in low.stdout
    assert "FAIL: coverage 30.0% is below --min-coverage 40%" in low.stdout


# syrupy as if not installed: every lookup of it fails, as with no such distribution
BLOCK_SYRUPY = (
    "import sys\n"
    "class NoSyrupy:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] == 'syrupy':\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, NoSyrupy())\n"
)


def test_without_the_test_extra_guardrails_test_names_it(tmp_path):
    project(tmp_path)
    run = guardrails(tmp_path, prelude=BLOCK_SYRUPY)
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "error: guardrails test needs the 'test' extra (syrupy is not installed): "
        "pip install 'guardrails-rules[test]'"
    )
    assert "Traceback" not in run.stderr


def test_without_syrupy_the_pytest_plugin_fails_with_the_extra_named(tmp_path):
    project(tmp_path)
    code = (
        BLOCK_SYRUPY
        + "import pytest; sys.exit(pytest.main(['-p', 'guardrails.tooling.pytest_plugin', "
        "'-p', 'no:cacheprovider', '--guardrails-rules=rules', '--guardrails-corpus=tests/corpus', "
        "'tests/corpus']))"
    )
    # no entry-point plugins: pytest would load syrupy's (and mark it for its importer)
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=env)  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        "needs the 'test' extra (syrupy is not installed): pip install 'guardrails-rules[test]'"
        in run.stdout
    )
    assert "fixture 'snapshot' not found" not in run.stdout
