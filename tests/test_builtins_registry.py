"""Issue 15's acceptance test: a built-in is one registry entry (plus grammar, plus doc).

`ends_with` is registered here, inside the test suite only, and then goes through
every stage with nothing else written for it: the checker types it (and reports a
misuse with its code and position), codegen calls it, the engine evaluates it and
`--explain` shows it. An *operator* also needs its grammar line: operators are
keywords of `comp_op` in grammar/rules.lark (a bare NAME in that place would let the
contextual lexer take a rule's next clause or action for an operator), so the test of
`suffixed_by` adds one to a copy of the grammar and registers the entry; nothing else.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import guardrails
from guardrails.check import signatures
from guardrails.check.builtins import BUILTINS, function, operator
from guardrails.check.signatures import signature
from guardrails.check.types import BOOL, STR
from guardrails.runtime import EXPORTS
from guardrails.runtime.ops import RuleTypeError, type_name
from guardrails.syntax import parser
from guardrails.tooling.explain import explain

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
RULE = 'rule shell on tool_pre_invoke when ends_with(tool.name, "_exec") block "no shells"\n'


def _ends_with(text: object, suffix: object) -> bool:
    if text is None or suffix is None:
        return False
    if type(text) is not str or type(suffix) is not str:
        raise RuleTypeError(f"ends_with() needs strings, got {type_name(text)}")
    return text.endswith(suffix)


ENDS_WITH = function("ends_with", signature((STR, STR), BOOL), _ends_with, arity=(2, 2))


@pytest.fixture
def ends_with():
    with BUILTINS.added(ENDS_WITH):
        yield


def _diagnostics(text: str) -> list[guardrails.Diagnostic]:
    with pytest.raises(guardrails.RulesError) as err:
        guardrails.loads(text)
    return list(err.value.diagnostics)


def test_a_misuse_gets_the_checkers_diagnostic_at_the_argument(ends_with):
    (diag,) = _diagnostics('rule r on tool_pre_invoke when ends_with(3, "x") block\n')
    assert diag.code == "GR0212"
    assert diag.message == "ends_with() needs a string, found int"
    assert (diag.span.line, diag.span.column) == (1, 42)

    (diag,) = _diagnostics("rule r on tool_pre_invoke when ends_with(tool.name) block\n")
    assert diag.code == "GR0204" and diag.message == "ends_with() takes 2 arguments, got 1"
    assert diag.span.column == 32


def test_it_compiles_to_a_call_of_its_runtime_function(ends_with):
    policy = guardrails.loads(RULE)
    assert "if not _ends_with((_v1.get('name') if " in policy.generated_source


def test_it_evaluates_with_the_dsl_semantics(ends_with):
    policy = guardrails.loads(RULE)
    verdict = policy.evaluate("tool_pre_invoke", {"tool": {"name": "shell_exec", "args": {}}})
    assert verdict.outcome == "block" and verdict.reason == "no shells"
    assert policy.evaluate("tool_pre_invoke", {"tool": {"name": "ls", "args": {}}}).outcome == (
        "allow"
    )
    assert policy.evaluate("tool_pre_invoke", {"tool": {"args": {}}}).outcome == "allow"
    broken = policy.evaluate("tool_pre_invoke", {"tool": {"name": 7, "args": {}}})
    assert broken.outcome == "block" and broken.rules[0].verdict == "error"


def test_explain_shows_it_and_evaluates_it_through_the_same_function(ends_with):
    policy = guardrails.loads(RULE)
    facts = {"tool": {"name": "shell_exec", "args": {}}}
    text = explain(policy, "tool_pre_invoke", facts, policy.evaluate("tool_pre_invoke", facts))
    assert 'ends_with(tool.name, "_exec")  -> true' in text
    assert 'tool.name = "shell_exec"' in text


def test_the_registration_is_scoped():
    with BUILTINS.added(ENDS_WITH):
        policy = guardrails.loads(RULE)
        assert "_ends_with" in EXPORTS
    assert "ends_with" not in BUILTINS and "_ends_with" not in EXPORTS
    (diag,) = _diagnostics(RULE)
    assert diag.code == "GR0203" and diag.message == "unknown function 'ends_with'"
    facts = {"tool": {"name": "shell_exec", "args": {}}}
    assert policy.evaluate("tool_pre_invoke", facts).outcome == "block"  # loaded, kept


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="already a built-in"):
        BUILTINS.add(function("len", signature((STR,), BOOL), _ends_with))
    assert BUILTINS["len"].runtime is EXPORTS["_len"]


@pytest.mark.parametrize("export", ["_get_path", "type", "_len"])
def test_an_export_generated_code_already_calls_cannot_be_taken(export):
    before = dict(EXPORTS)
    with pytest.raises(ValueError, match="already taken"):
        BUILTINS.add(function("my_fn", signature((STR,), BOOL), _ends_with, export))
    assert "my_fn" not in BUILTINS and before == EXPORTS
    rules = 'rule r on tool_pre_invoke when len(tool.name) == 1 block "x"'  # path, len, compare
    assert (
        guardrails.loads(rules).evaluate("tool_pre_invoke", {"tool": {"name": "x"}}).outcome
        == "block"
    )


SUFFIXED_BY = operator("suffixed_by", signatures.text_pair, _ends_with, "_suffixed_by")
OPERATOR_RULE = 'rule shell on tool_pre_invoke when tool.name suffixed_by "_exec" block\n'


@functools.cache
def _parser_with_suffixed_by():
    grammar = parser.grammar_text()
    extended = grammar.replace(
        '| "endswith" | "matches"', '| "endswith" | "matches" | "suffixed_by"'
    )
    assert extended != grammar
    return parser.build_parser(extended)


@pytest.fixture
def suffixed_by(monkeypatch):
    monkeypatch.setattr(parser, "get_parser", _parser_with_suffixed_by)
    with BUILTINS.added(SUFFIXED_BY):
        yield


def test_an_operator_is_its_grammar_line_plus_one_entry(suffixed_by):
    (diag,) = _diagnostics('rule r on tool_pre_invoke when 3 suffixed_by "x" block\n')
    assert diag.code == "GR0210"
    assert diag.message == "type mismatch: int suffixed_by str needs two strings"
    assert (diag.span.column, diag.span.end_column) == (34, 45)

    policy = guardrails.loads(OPERATOR_RULE)
    assert "_suffixed_by(" in policy.generated_source
    facts = {"tool": {"name": "shell_exec", "args": {}}}
    verdict = policy.evaluate("tool_pre_invoke", facts)
    assert verdict.outcome == "block"
    assert 'tool.name suffixed_by "_exec"  -> true' in explain(
        policy, "tool_pre_invoke", facts, verdict
    )
    other = {"tool": {"name": "ls", "args": {}}}
    assert policy.evaluate("tool_pre_invoke", other).outcome == "allow"


def _doc_section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n{title}\n")
    return text[start : text.index("\n#", start + 1)]


def test_the_language_doc_lists_every_function():
    table = _doc_section("### Built-in functions")
    missing = [name for name in BUILTINS.functions if f"`{name}(" not in table]
    assert not missing, f"docs/language.md lacks a line for {missing}"


def test_the_language_doc_lists_every_operator():
    words = " " + " ".join(_doc_section("## Expressions").replace("`", " ").split()) + " "
    spelled = [e for e in BUILTINS.operators.values() if e.render is None]
    missing = [e.name for e in spelled if f" {e.name} " not in words]
    assert not missing, f"docs/language.md lacks {missing}"
