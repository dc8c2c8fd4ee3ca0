"""Syntax and type errors say what was written and what to write instead: the rule
that lacks an action (not the one after it), a hint that fits the operands, a short
list of what may come next, and the words of other policy languages."""

from __future__ import annotations

import pytest

import guardrails

from .conftest import diagnostics_for

HOOK = "on generation_pre_call"


def _errors(text: str) -> list[guardrails.Diagnostic]:
    return [d for d in diagnostics_for(text) if d.severity is guardrails.Severity.ERROR]


def _one(text: str) -> guardrails.Diagnostic:
    errors = _errors(text)
    assert len(errors) == 1, [d.render() for d in errors]
    return errors[0]


def test_a_rule_without_action_is_reported_at_its_own_end_by_name():
    text = (
        f'rule a {HOOK} when prompt contains "x"\n\nrule b {HOOK} when prompt contains "y" block\n'
    )
    d = _one(text)
    assert (d.code, d.line, d.column) == ("GR0106", 1, 55)
    assert "rule 'a' has no action" in d.message
    assert "'rule' on line 3" in d.message


def test_the_rule_after_one_without_action_is_still_checked():
    text = f"rule a {HOOK} when tokens > 3\nrule b {HOOK} when tokns > 3 block\n"
    assert [(d.code, d.line) for d in _errors(text)] == [("GR0106", 1), ("GR0202", 2)]


def test_an_anonymous_rule_without_action_at_the_end_of_a_multiline_rule():
    text = f"{HOOK}\n  when tokens > 3   # too long\n\n# next\nlet x = 1\n"
    d = _one(text)
    assert (d.code, d.line, d.column) == ("GR0106", 2, 18)
    assert d.message.startswith("this rule has no action")


@pytest.mark.parametrize(
    ("condition", "wanted", "unwanted"),
    [
        ("prompt > 5", ["`len(prompt) > 5`", "`tokens > 5`"], "quotes"),
        ("5 <= prompt", ["`5 <= len(prompt)`", "`5 <= tokens`"], "quotes"),
        ("model >= 2", ["`len(model) >= 2`"], "tokens"),
        ("prompt == 5", ['`prompt == "5"`'], "quotes"),
        ('tokens > "5"', ["drop the quotes", "`tokens > 5`"], "len("),
    ],
)
def test_a_type_mismatch_hint_fits_what_was_written(condition, wanted, unwanted):
    d = _one(f"{HOOK} when {condition} block\n")
    assert d.code == "GR0210"
    for words in wanted:
        assert words in d.hint
    assert unwanted not in d.hint


@pytest.mark.parametrize(
    ("word", "hint"),
    [
        ("deny", "did you mean `block`?"),
        ("reject", "did you mean `block`?"),
        ("log", "did you mean `warn`?"),
        ("allow", "there is no `allow`"),
        ("blok", "did you mean 'block'?"),
        ("Warn", "did you mean 'warn'?"),
        ("whn", "did you mean 'when'?"),
    ],
)
def test_a_word_where_an_action_belongs(word, hint):
    d = _one(f'{HOOK} when prompt contains "x" {word}\n')
    assert d.code == "GR0100"
    assert d.hint is not None and hint in d.hint


def test_the_expected_list_is_short_and_says_what_kind_of_thing_is_expected():
    d = _one(f'{HOOK} when prompt contains "x" deny\n')
    assert "an action (block, warn, set, redact, ...)" in d.message
    assert "another clause (when, unless, " in d.message
    # what an LALR state lists but the parser cannot take here
    for word in ("')'", "']'", "':'", "'to'", "'with'", "'limit'", "'every'"):
        assert word not in d.message
    assert len(d.message) < 160


@pytest.mark.parametrize(
    ("action", "column"),
    [
        ('redact prompt ["a","b"]', 38),
        ("redact prompt [/a/, /b/]", 38),
        ('redact prompt ["a"]', 38),
        ('replace messages ["a", "b"] with "x"', 41),
    ],
)
def test_a_list_literal_after_redact_says_bind_it_with_let(action, column):
    d = _one(f"{HOOK} {action}\n")
    assert (d.code, d.column) == ("GR0100", column)
    assert "list literal cannot follow" in d.message
    assert "bind the list with `let`" in d.hint


def test_an_index_written_as_one_is_not_taken_for_a_list():
    d = _one('on tool_pre_invoke redact tool.args["to"]\n')
    assert "list literal" not in d.message


# a new user's mistakes: (what was written after the hook, code, words in the hint)
MISTAKES = [
    (
        "generation_pre_call when tokens > 3 block",
        "GR0100",
        "did you mean `on generation_pre_call`?",
    ),
    ("on generation_pre_call when model == gpt4 block", "GR0202", 'quote it: `"gpt4"`'),
    ('on generation_pre_call when model in [gpt4, "x"] block', "GR0202", 'quote it: `"gpt4"`'),
    ("on generation_pre_call when True block", "GR0202", "did you mean `true`?"),
    ("on generation_pre_call when prompt != None block", "GR0202", "did you mean `null`?"),
    ("on generation_pre_call block when tokens > 3", "GR0100", "come before the actions"),
    ("on generation_pre_call if tokens > 3 block", "GR0100", "did you mean `when`?"),
    ("on generation_pre_call when tokens > 3 then block", "GR0100", "nothing goes between"),
    ("on generation_pre_call when tokens > 3 block else warn", "GR0100", "there is no `else`"),
    ('on generation_pre_call when tokens > 3 block("too long")', "GR0100", "no parentheses"),
    (
        'on generation_pre_call when tokens > 3 block reason "x"',
        "GR0100",
        "a reason is a quoted string",
    ),
    ('on generation_pre_call when model in ("a", "b") block', "GR0100", "written in brackets"),
    ("on generation_pre_call when tokens > 3: block", "GR0100", "no `:` or braces"),
    ('rule "too-long" on generation_pre_call block', "GR0100", "a rule id is a bare name"),
    ("rule too-long on generation_pre_call block", "GR0100", "`rule too_long`"),
    ("on generation_pre_call when tokens is 3 block", "GR0100", "did you mean `==`?"),
    ("on generation_pre_call when prompt like /x/ block", "GR0100", "did you mean `matches`?"),
    ("on generation_pre_call when tokens between 1 and 3 block", "GR0100", "both bounds"),
    (
        'on generation_pre_call when prompt.contains("x") block',
        "GR0100",
        "`contains` is an operator",
    ),
    ("on generation_pre_call when prompt.lower() == 'x' block", "GR0100", "`lower(x)`"),
    (
        'on generation_pre_call when prompt not contains "x" block',
        "GR0100",
        "only `in` can follow `not`",
    ),
    (
        "on generation_pre_call when tokens > 3 and < 10 block",
        "GR0100",
        "say what to compare again",
    ),
    ('on generation_pre_call block "x" code "E1"', "GR0100", "a code is a bare name"),
    (
        'on generation_pre_call redact prompt with "***"',
        "GR0100",
        "say what to redact before `with`",
    ),
    ("on generation_pre_call when prompt =~ /x/ block", "GR0100", "use `matches`"),
    ("on generation_pre_call when prompt ~ /x/ block", "GR0102", "use `matches`"),
    ("on generation_pre_call block; on tool_pre_invoke block", "GR0102", "no separator"),
    ('on generation_pre_call when prompt contains ["a", "b"] block', "GR0210", "any w in"),
    (
        "rule a on generation_pre_call, when tokens > 3 block",
        "GR0100",
        "`when` was read as a hook name",
    ),
    ("on when tokens > 3 block", "GR0100", "`when` was read as a hook name"),
    ("on generation_pre_call priority high block", "GR0100", "a priority is an integer"),
    ('on generation_pre_call block "x" code no-shell', "GR0100", "`code no_shell`"),
    ("on generation_pre_call block code=X", "GR0100", "no `=` after `code`"),
    ("counter c per user every 1 hour", "GR0100", "a duration is one word"),
    ('on generation_pre_call block "bad" "really"', "GR0100", "an action has one reason"),
    ("on generation_pre_call when tokens > 3 or block", "GR0106", "`... or block`"),
    ("on generation_pre_call when prompt.length > 3 block", "GR0201", "`len(prompt)`"),
    ("on generation_pre_call when size(prompt) > 3 block", "GR0203", "did you mean `len`?"),
    ("on GENERATION_PRE_CALL block", "GR0200", "did you mean 'generation_pre_call'?"),
]


@pytest.mark.parametrize(("text", "code", "hint"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_new_users_mistake_gets_a_hint_that_fits(text, code, hint):
    d = _errors(text + "\n")[0]
    assert d.code == code
    assert d.hint is not None and hint in d.hint, d.render()


def test_the_language_doc_shows_a_diagnostic_as_the_checker_renders_it():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "language.md").read_text()
    section = doc[doc.index("## Diagnostic codes") :]
    start = section.index("```text\n") + 8
    shown = section[start : section.index("\n```", start)]
    source = shown.splitlines()[1].split(" | ", 1)[1] + "\n"
    (d,) = diagnostics_for(source, "rules/pii.rules")
    assert d.render() == shown


def test_quantifier_keywords_are_part_of_an_expression():
    d = _one(f"{HOOK} when tokens >\n")
    assert d.message == "unexpected end of file: expected an expression"


def test_recovery_after_a_rule_without_action_keeps_the_items_around_it():
    """The rule after one without an action is parsed (it was skipped: its `let` was
    then reported as never used)."""
    text = f"let x = 1\nrule a {HOOK} when tokens > x\n\nrule b {HOOK} when tokens > x block\n"
    assert [(d.code, d.line) for d in diagnostics_for(text)] == [("GR0106", 2)]
