"""The corpus pytest plugin, exercised with pytester in throwaway projects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RULES = """
rule deny_shell on tool_pre_invoke when tool.name == "shell" unless user.role == "admin"
  block "no shell" code NO_SHELL
rule tag_args on tool_pre_invoke mode transform set tool.args.tagged = true
"""


def project(
    pytester: pytest.Pytester, rules: str = RULES, cases: dict[str, dict] | None = None
) -> Path:
    pytester.makeini("[pytest]\nguardrails_rules = rules\nguardrails_corpus = corpus\n")
    (pytester.path / "rules").mkdir()
    (pytester.path / "rules" / "tools.rules").write_text(rules)
    hook = pytester.path / "corpus" / "tool_pre_invoke"
    hook.mkdir(parents=True)
    cases = (
        cases
        if cases is not None
        else {
            "guest_shell": {
                "expect": "block by deny_shell",
                "facts": {"tool": {"name": "shell", "args": {}}, "user": "guest"},
            },
            "admin_shell": {
                "expect": ["modify", "modify by tag_args"],
                "facts": {"tool": {"name": "shell", "args": {}}, "user": {"role": "admin"}},
            },
        }
    )
    for name, data in cases.items():
        (hook / f"{name}.json").write_text(json.dumps(data))
    return pytester.path


def test_passes_on_matching_snapshots_with_one_item_per_case(pytester):
    project(pytester)
    first = pytester.runpytest("--snapshot-update")
    first.assert_outcomes(passed=2)
    snapshot = pytester.path / "corpus" / "__snapshots__" / "tool_pre_invoke.ambr"
    text = snapshot.read_text()
    assert (
        "deny_shell: block code NO_SHELL" in text
        and "cpex: block by deny_shell code NO_SHELL" in text
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    assert "corpus/tool_pre_invoke::test_case[guest_shell] PASSED" in result.stdout.str()


def test_a_changed_rule_fails_with_a_readable_diff(pytester):
    project(pytester)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    rules = pytester.path / "rules" / "tools.rules"
    rules.write_text(
        RULES.replace('block "no shell" code NO_SHELL', 'warn "no shell" code NO_SHELL')
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*tool_pre_invoke/guest_shell: rule deny_shell: expected 'block code NO_SHELL', got 'warn code NO_SHELL'*",
            "*expected 'block by deny_shell', got 'modify'*",
        ]
    )


def test_snapshot_update_rewrites_but_expectations_still_fail(pytester):
    project(pytester)
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)
    snapshot = pytester.path / "corpus" / "__snapshots__" / "tool_pre_invoke.ambr"
    before = snapshot.read_text()
    rules = pytester.path / "rules" / "tools.rules"
    rules.write_text(RULES.replace('"shell"', '"bash"'))
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1, failed=1)  # guest_shell's `expect` no longer holds
    result.stdout.fnmatch_lines(["*expected 'block by deny_shell', got 'modify'*"])
    assert snapshot.read_text() != before
    assert "deny_shell: pass" in snapshot.read_text()


def test_cases_with_prior_state_snapshot_what_the_call_read_and_recorded(pytester):
    rules = (
        "counter mails per session limit 5\n"
        "rule count on tool_pre_invoke when tool.name == 'mail' add 1 to mails\n"
        "rule cap on tool_pre_invoke when mails >= mails.limit block code MAILS\n"
    )
    call = {"tool": {"name": "mail", "args": {}}, "session": "s1"}
    project(pytester, rules, cases={
        "sixth": {"expect": "block by cap", "now": "2026-12-03T10:15:00Z", "facts": call,
                  "state": {"mails": [{"key": ["s1"], "value": 5}]}},
        "fifth": {"expect": ["allow", "record by count"], "facts": call,
                  "state": {"mails": [{"key": ["s1"], "value": 4}]}},
        "typo": {"facts": call, "state": {"mail": [{"key": ["s1"], "value": 4}]}},
    })  # fmt: skip
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*typo.json: no rule reads or records a state named 'mail'*"])
    text = (pytester.path / "corpus" / "__snapshots__" / "tool_pre_invoke.ambr").read_text()
    assert (
        'count: record mails\n    cap: block code MAILS\n  state:\n    mails ["s1"]: 5 -> 6' in text
    )
    assert "During handling" not in result.stdout.str()


def test_zero_cases_is_a_failure(pytester):
    project(pytester, cases={})
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*yields zero (case x rule) pairs*"])


WRAPPER_NEEDING_FUNCARGS = """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not hasattr(item, "funcargs"):  # as pytest-lsp 1.0.1 does
        return
    yield
"""


def test_the_corpus_problem_item_survives_plugins_that_expect_a_test_function(pytester):
    """With pytest-lsp installed, its runtest wrapper returned without yielding on our
    item, and pytest reported an internal error instead of the corpus's problem."""
    project(pytester, cases={})
    pytester.makeconftest(WRAPPER_NEEDING_FUNCARGS)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*yields zero (case x rule) pairs*"])
    result.stdout.no_fnmatch_line("*did not yield*")


def test_cases_only_for_hooks_without_rules_is_a_failure(pytester):
    project(pytester, cases={})
    other = pytester.path / "corpus" / "generation_pre_call"
    other.mkdir()
    (other / "a.json").write_text('{"prompt": "hi"}')
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*yields zero (case x rule) pairs*"])


def test_bad_case_file_and_bad_expectation_fail_with_their_location(pytester):
    project(pytester, cases={"ok": {"facts": {"tool": {"name": "x"}}}})
    hook = pytester.path / "corpus" / "tool_pre_invoke"
    (hook / "broken.json").write_text('{"facts": {"tool": }')
    (hook / "odd_expect.json").write_text('{"expect": "maybe by deny_shell", "facts": {}}')
    result = pytester.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*broken.json:1:20: invalid JSON*",
            "*odd_expect.json: expectation 'maybe by deny_shell': unknown verdict 'maybe'*",
        ]
    )


def test_broken_rules_and_unknown_hook_directories_fail(pytester):
    project(pytester, rules="rule r on tool_pre_invoke when tool.nme == 1 block\n")
    (pytester.path / "corpus" / "tool_pre_invok").mkdir()
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert "error[GR0201]: unknown fact 'tool.nme'" in result.stdout.str()
    (pytester.path / "rules" / "tools.rules").write_text(RULES)
    result = pytester.runpytest("--snapshot-update")
    result.stdout.fnmatch_lines(
        ["*no hook named 'tool_pre_invok'; did you mean 'tool_pre_invoke'?*"]
    )


def test_missing_corpus_directory_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nguardrails_rules = rules\nguardrails_corpus = nowhere\n")
    (pytester.path / "rules").mkdir()
    (pytester.path / "rules" / "r.rules").write_text(RULES)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*guardrails_corpus*nowhere is not a directory*"])


def test_configuration_from_conftest(pytester):
    project(pytester)
    (pytester.path / "pytest.ini").write_text("[pytest]\n")
    pytester.makeconftest("guardrails_rules = 'rules'\nguardrails_corpus = 'corpus'\n")
    pytester.runpytest("--snapshot-update").assert_outcomes(passed=2)


def test_unconfigured_projects_are_left_alone(pytester):
    pytester.makepyfile("def test_x():\n    assert True\n")
    (pytester.path / "corpus").mkdir()
    pytester.runpytest().assert_outcomes(passed=1)


def test_guardrails_test_cli(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.rules").write_text(RULES)
    hook = tmp_path / "tests" / "corpus" / "tool_pre_invoke"
    hook.mkdir(parents=True)
    (hook / "guest.json").write_text(
        json.dumps({"expect": "block by deny_shell", "facts": {"tool": {"name": "shell"}}})
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "guardrails", "test", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert run().returncode == 1  # no snapshot yet
    assert run("--update").returncode == 0
    assert run("rules", "--corpus", "tests/corpus").returncode == 0
    (tmp_path / "rules" / "r.rules").write_text(RULES.replace("block", "warn", 1))
    failed = run()
    assert failed.returncode == 1
    assert (
        "rule deny_shell: expected 'block code NO_SHELL', got 'warn code NO_SHELL'" in failed.stdout
    )
    assert run("--corpus", "nope").returncode == 2  # usage errors, found before pytest runs
    assert run("no_such_rules").returncode == 2


def test_coverage_refuses_xdist_workers(pytester):
    """Coverage counts cases in one process: with -n each worker would see a part."""
    pytest.importorskip("xdist")
    project(pytester)
    result = pytester.runpytest("--guardrails-coverage", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--guardrails-coverage counts every case in one process*"])


def test_a_broken_ruleset_is_one_entry_of_the_json_report_and_junit(pytester):
    import xml.etree.ElementTree as ET

    project(pytester, rules="rule r on tool_pre_invoke when tool.nme == 1 block\n")
    result = pytester.runpytest("--guardrails-report-json=out/cases.json", "--junitxml=out/j.xml")
    result.assert_outcomes(failed=1)
    report = json.loads((pytester.path / "out" / "cases.json").read_text())
    (entry,) = report["cases"]
    assert (entry["id"], entry["hook"], entry["outcome"], entry["passed"]) == (
        "corpus: rules",
        None,
        None,
        False,
    )
    assert "unknown fact 'tool.nme'" in entry["message"]
    (case,) = ET.parse(pytester.path / "out" / "j.xml").iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("guardrails.corpus", "corpus: rules")
