"""A corpus case's `expect`: a typo is a clean error naming the file, never a traceback."""

from __future__ import annotations

import json

import pytest

from guardrails.tooling.corpus import CorpusError, load_case
from guardrails.tooling.expectations import Expectation

RULES = """rule deny_shell on tool_pre_invoke when tool.name == "shell" block "no" code NO_SHELL
"""


def case_file(tmp_path, expect):
    path = tmp_path / "corpus" / "tool_pre_invoke" / "bad.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"expect": expect, "facts": {"tool": {"name": "shell"}}}))
    return path


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("blok by deny_shell", "unknown verdict 'blok'; did you mean 'block'?"),
        (
            "would-block by deny_shell",
            "cannot read expectation 'would-block by deny_shell'; did you mean 'would_block'?",
        ),
        ("allow by deny_shell", "for the rule's own verdict write 'pass by deny_shell'"),
        ("warn", "needs a rule: 'warn by RULE'"),
        (5, "'expect' must be a string or a list of strings, got 5"),
        (["allow", None], 'got ["allow", null]'),
    ],
)
def test_a_bad_expect_names_the_file_and_the_fix(tmp_path, expect, message):
    path = case_file(tmp_path, expect)
    with pytest.raises(CorpusError) as caught:
        load_case(path, "tool_pre_invoke")
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_rule_name_typo_in_expect_gets_a_did_you_mean(tmp_path):
    from guardrails.tooling.corpus import load_policy, run_case

    (tmp_path / "r.rules").write_text(RULES)
    case = load_case(case_file(tmp_path, "block by deny_shel"), "tool_pre_invoke")
    problems = run_case(load_policy(tmp_path / "r.rules"), case).problems
    assert problems == ["expected 'block by deny_shel', got 'block by deny_shell code NO_SHELL'"]
    case = load_case(case_file(tmp_path, "warn by deny_shel"), "tool_pre_invoke")
    (problem,) = run_case(load_policy(tmp_path / "r.rules"), case).problems
    assert problem.endswith(
        "no rule 'deny_shel' applies to tool_pre_invoke; did you mean 'deny_shell'?"
    )


def test_good_expectations_still_parse():
    assert Expectation.parse("block by r code C") == Expectation(
        "block by r code C", "block", "r", "C"
    )
    assert Expectation.parse(" pass by r ").rule == "r"


def test_replay_of_a_corpus_with_a_bad_expect_raises_the_clean_error(tmp_path):
    """`guardrails replay --corpus` prints a GuardrailsError as `error: ...` (exit 2):
    the case's error must be one, with the file, not a bare exception."""
    from guardrails.tooling.rollout.replays import cases_from_corpus

    path = case_file(tmp_path, "blok by deny_shell")
    with pytest.raises(CorpusError) as caught:
        cases_from_corpus(tmp_path / "corpus")
    assert str(caught.value).startswith(
        f"{path}: expectation 'blok by deny_shell': unknown verdict 'blok'; did you mean 'block'?"
    )


def test_replay_of_a_corpus_with_a_bad_expect_prints_it_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from guardrails.tooling.cli import main

    (tmp_path / "r.rules").write_text(RULES)
    path = case_file(tmp_path, "blok by deny_shell")
    rules = str(tmp_path / "r.rules")
    result = CliRunner().invoke(
        main, ["replay", rules, "--baseline", rules, "--corpus", str(tmp_path / "corpus")]
    )
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert (
        f"error: {path}: expectation 'blok by deny_shell': unknown verdict 'blok'" in result.output
    )
