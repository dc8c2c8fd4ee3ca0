"""Rules run their regexes on RE2: linear time, a size cap, and load-time errors for
what RE2 cannot run."""

from __future__ import annotations

import pytest

import guardrails
from guardrails.check.regexes import REGEX_TYPE, strip_verbose

HOOK = "generation_post_call"


def test_patterns_are_compiled_for_re2():
    policy = guardrails.loads(r"rule r on generation_post_call when output matches /(a+)+$/ block")
    rule = policy.checked_rules["r"]
    patterns = rule.condition.args[1].value  # type: ignore[union-attr]
    assert all(isinstance(p, REGEX_TYPE) for p in patterns)
    # the classic catastrophic-backtracking input is an ordinary call
    hostile = "a" * 200_000 + "!"
    assert policy.evaluate(HOOK, {"output": hostile}).rule("r").verdict == "pass"


def test_flags_map_onto_re2():
    policy = guardrails.loads(
        "rule i on generation_post_call mode audit when output matches /hello/i block\n"
        "rule s on generation_post_call mode audit when output matches /a.b/s block\n"
        "rule m on generation_post_call mode audit when output matches /^two$/m block\n"
        "rule x on generation_post_call mode audit when output matches /t w o  # spaced/x block\n"
    )
    v = policy.evaluate(HOOK, {"output": "HELLO\na\nb\ntwo"})
    assert {r.rule_id: r.verdict for r in v.rules} == {
        "i": "would_block", "s": "would_block", "m": "would_block", "x": "would_block",
    }  # fmt: skip


def test_verbose_stripping_keeps_escapes_and_classes():
    assert strip_verbose(r"a b\ c [ x]  # note") == r"ab\ c[ x]"


def test_text_over_the_size_cap_is_an_error_that_fails_closed():
    text = "rule r on generation_post_call when output matches /secret/ block\n"
    policy = guardrails.loads(text, max_match_chars=1000)
    assert policy.evaluate(HOOK, {"output": "x" * 1000}).outcome == "allow"
    v = policy.evaluate(HOOK, {"output": "x" * 1001})
    assert v.outcome == "block" and v.code == "GUARDRAIL_ERROR"
    assert "over the 1000-character limit" in v.rule("r").error
    assert guardrails.loads(text).evaluate(HOOK, {"output": "x" * 100_000}).outcome == "allow"


def test_redaction_respects_the_size_cap():
    policy = guardrails.loads(
        "rule r on tool_post_invoke mode transform redact tool.output /k/\n", max_match_chars=10
    )
    assert (
        policy.evaluate("tool_post_invoke", {"tool": {"output": "kkk"}}).payload["tool"]["output"]
        == "[REDACTED][REDACTED][REDACTED]"
    )
    v = policy.evaluate("tool_post_invoke", {"tool": {"output": "k" * 11}})
    assert v.outcome == "block" and v.rule("r").verdict == "error"


@pytest.mark.parametrize(
    ("pattern", "words"),
    [(r"(a)\1", "backreferences"), (r"x(?!y)", "lookahead"), (r"(?<=a)b", "lookahead")],
)
def test_backtracking_constructs_are_load_time_errors(pattern, words):
    with pytest.raises(guardrails.RulesError) as info:
        guardrails.loads(f"on generation_post_call when output matches /{pattern}/ block")
    (diag,) = info.value.diagnostics
    assert diag.code == "GR0222" and words in (diag.hint or "")


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("a{1001}", "count 1001 is over 1000"),
        ("a{2,99999999999}", "count 99999999999 is over 1000"),  # Python's re: OverflowError
        ("a{100000000}", "count 100000000 is over 1000"),  # RE2 alone: literal text
        ("(a{100}){100}", "repetition size"),
        ("(" * 101 + "a" + ")" * 101, "100 levels"),  # Python's re: RecursionError past ~490
    ],
)
def test_patterns_past_re2s_limits_are_invalid_regexes(pattern, words):
    with pytest.raises(guardrails.RulesError) as info:
        guardrails.loads(f"on generation_post_call when output matches '{pattern}' block")
    (diag,) = info.value.diagnostics
    assert diag.code == "GR0220" and words in diag.message


def test_patterns_at_the_limits_load():
    text = "a{1000}|[{99999}]|\\{99999}|" + "(" * 100 + "b" + ")" * 100 + "|c # {99999}"
    policy = guardrails.loads(f"on generation_post_call when output matches /{text}/x block")
    assert policy.evaluate("generation_post_call", {"output": "a" * 1000}).outcome == "block"
    assert policy.evaluate("generation_post_call", {"output": "a" * 999}).outcome == "allow"


def test_patterns_from_lets_and_strings_use_re2_too():
    with pytest.raises(guardrails.RulesError, match="GR0222"):
        guardrails.loads("let p = '(a)\\\\1'\non generation_post_call when output matches p block")


@pytest.mark.parametrize("pattern", ["a{,5}", "a{,}", "a{0005}", "a{2,0003}"])
def test_counts_python_reads_as_repetitions_and_re2_as_text_are_errors(pattern):
    """Rules are checked with Python's parser and run on RE2; these two disagree on
    these counts, so a rule would silently match something else than was checked."""
    import re2

    assert re2.compile(pattern).search(pattern) is not None  # RE2: literal text
    with pytest.raises(guardrails.RulesError, match=r"GR0220.*RE2 reads"):
        guardrails.loads(f"rule r on tool_pre_invoke when tool.name matches /{pattern}/ block\n")
