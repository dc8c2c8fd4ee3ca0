"""Broken rule texts: each gives a stable code at an exact line and column."""

from __future__ import annotations

import json
import pickle

import pytest

import guardrails
from guardrails.diagnostics import CODES

from .conftest import diagnostics_for

# (id, text, code, line, column, words that must appear in message or hint)
CASES = [
    ("reason_unknown_fact", 'on tool_pre_invoke block "no {tool.nme} here"\n', "GR0201", 1, 31, "did you mean 'tool.name'"),
    ("reason_unclosed_brace", 'on tool_pre_invoke block "no {tool.name here"\n', "GR0110", 1, 30, "unclosed"),
    ("reason_stray_brace", 'on tool_pre_invoke block "no } here"\n', "GR0110", 1, 30, "unmatched"),
    ("reason_expression", 'on tool_pre_invoke block "n={len(tool.name)}"\n', "GR0110", 1, 29, "not a fact path"),
    ("missing_action", "rule a on generation_pre_call when tokens > 3\n", "GR0106", 1, 46, "no action"),
    ("keyword_typo", "rule a on generation_pre_call whn tokens > 3 block\n", "GR0100", 1, 31, "did you mean 'when'"),
    ("single_equals", 'on generation_pre_call when model = "x" block\n', "GR0100", 1, 35, "=="),
    ("unterminated_string", 'on generation_pre_call when model == "gpt block\n', "GR0103", 1, 38, "unterminated string"),
    ("unterminated_regex", "on generation_pre_call when prompt matches /abc block\n", "GR0103", 1, 44, "unterminated regex"),
    ("ampersands", "on generation_pre_call when tokens > 3 && tokens < 9 block\n", "GR0102", 1, 40, "use 'and'"),
    ("eof_in_expression", "on generation_pre_call when tokens >", "GR0101", 1, 37, "expected an expression"),
    ("bad_escape", 'on generation_pre_call when prompt contains "a\\qb" block\n', "GR0103", 1, 47, "\\q"),
    ("unknown_hook", "on generation_precall when tokens > 3 block\n", "GR0200", 1, 4, "did you mean 'generation_pre_call'"),
    ("unknown_dotted_fact", 'on tool_pre_invoke when tool.nme == "x" block\n', "GR0201", 1, 25, "did you mean 'tool.name'"),
    ("unknown_name", "on generation_pre_call when tokns > 3 block\n", "GR0202", 1, 29, "did you mean 'tokens'"),
    ("fact_of_other_hook", 'on tool_pre_invoke when output contains "x" block\n', "GR0202", 1, 25, "exists on agent_post_invoke"),
    ("str_vs_int_order", 'on generation_pre_call when tokens > "many" block\n', "GR0210", 1, 36, "int > str"),
    ("str_vs_int_eq", 'on generation_pre_call when tokens == "5" block\n', "GR0210", 1, 36, "always false"),
    ("bool_vs_int", "on generation_pre_call when tool_calls == 1 block\n", "GR0210", 1, 40, "not numbers"),
    ("arith_types", "on generation_pre_call when prompt - 1 > 3 block\n", "GR0210", 1, 36, "str and int"),
    ("matches_int", "on generation_pre_call when tokens matches /3/ block\n", "GR0210", 1, 29, "found int"),
    ("not_boolean", "on generation_pre_call when tokens block\n", "GR0211", 1, 29, "boolean"),
    ("not_writable", 'rule r on generation_pre_call mode transform when tokens > 1 set model = "x"\n', "GR0233", 1, 66, "model_options"),
    ("observe_only_hook", 'rule r on generation_post_call mode transform set output = "x"\n', "GR0233", 1, 51, "observe-only"),
    ("block_in_transform", "rule r on generation_pre_call mode transform when tokens > 1 block\n", "GR0231", 1, 62, "cannot block"),
    ("block_in_fire_and_forget", "rule r on generation_pre_call mode fire_and_forget when tokens > 1 block\n", "GR0231", 1, 68, "cannot block"),
    ("set_in_audit", "rule r on generation_pre_call mode audit set model_options.temperature = 0.5\n", "GR0232", 1, 42, "discards"),
    ("redact_in_concurrent", "rule r on tool_pre_invoke mode concurrent redact tool.args /x/\n", "GR0232", 1, 43, "discards"),
    ("set_wrong_type", "rule r on generation_pre_call mode transform set model_options = 3\n", "GR0234", 1, 66, "map"),
    ("invalid_regex", "on generation_pre_call when prompt matches /a(b/ block\n", "GR0220", 1, 46, "missing )"),
    ("invalid_regex_flag", "on generation_pre_call when prompt matches /ab/q block\n", "GR0220", 1, 48, "flag 'q'"),
    ("regex_count_overflow", "on generation_pre_call when prompt matches /a{99999999999}/ block\n", "GR0220", 1, 46, "at most 1000"),
    ("regex_count_over_re2", "on generation_pre_call when prompt matches /a{1,1001}/ block\n", "GR0220", 1, 46, "at most 1000"),
    ("regex_groups_too_deep", "on generation_pre_call when prompt matches /" + "(" * 101 + "a" + ")" * 101 + "/ block\n", "GR0220", 1, 145, "100 levels"),
    ("regex_too_large", "on generation_pre_call when prompt matches /" + "x" * 2_000_000 + "/ block\n", "GR0220", 1, 45, "list of smaller"),
    ("regex_backreference", "on generation_pre_call when prompt matches /(a)\\1/ block\n", "GR0222", 1, 48, "backreferences"),
    ("regex_lookahead", "on generation_pre_call when prompt matches /x(?=y)/ block\n", "GR0222", 1, 46, "lookahead"),
    ("pattern_not_constant", "on generation_pre_call when prompt matches model block\n", "GR0221", 1, 44, "constant"),
    ("duplicate_rule_id", "rule a on generation_pre_call block\nrule a on tool_pre_invoke block\n", "GR0205", 2, 6, "t.rules:1:6"),
    ("unknown_let", 'on generation_pre_call when model in allowed_modls block\nlet allowed_models = ["x"]\n', "GR0202", 1, 38, "did you mean 'allowed_models'"),
    ("unknown_function", "on generation_pre_call when lenght(prompt) > 3 block\n", "GR0203", 1, 29, "did you mean 'len'"),
    ("wrong_arity", "on generation_pre_call when len(prompt, model) > 3 block\n", "GR0204", 1, 29, "takes 1 argument, got 2"),
    ("unknown_on_error", "rule r on generation_pre_call on_error maybe block\n", "GR0235", 1, 40, "fail"),
    ("continue_without_exit", "rule r on before_llm continue\n", "GR0237", 1, 22, "on_exit"),
    ("unknown_mode", "rule r on generation_pre_call mode sequental block\n", "GR0230", 1, 36, "did you mean 'sequential'"),
    ("no_hook", "rule r when true block\n", "GR0208", 1, 6, "on HOOK"),
    ("two_when_clauses", "rule r on generation_pre_call when true when false block\n", "GR0209", 1, 46, "and"),
    ("let_cycle", "let a = b\nlet b = a\non generation_pre_call when model in a block\n", "GR0240", 1, 5, "a -> b -> a"),
    ("let_chain_too_deep", "let a0 = 1\n" + "".join(f"let a{i} = a{i - 1}\n" for i in range(1, 1000)) + "on generation_pre_call when tokens > a999 block\n", "GR0242", 101, 12, "let 'a100'"),
    ("let_lists_too_deep", "".join(f"let a{i} = [a{i + 1}]\n" for i in range(999)) + "let a999 = 1\non generation_pre_call when tokens in a0 block\n", "GR0242", 950, 13, "let 'a949'"),
    ("let_not_constant", "let a = tokens\non generation_pre_call when a block\n", "GR0241", 1, 9, "constant"),
    ("let_shadows_fact", 'let prompt = "x"\non generation_pre_call when model == prompt block\n', "GR0207", 1, 5, "fact"),
    ("duplicate_let", "let a = 1\nlet a = 2\non generation_pre_call when tokens > a block\n", "GR0206", 2, 5, "t.rules:1:5"),
    ("float_out_of_range", "on generation_pre_call when tokens > 1e999 block\n", "GR0109", 1, 38, "64-bit float"),
    ("int_out_of_range", "on generation_pre_call when tokens > -" + "9" * 5000 + " block\n", "GR0109", 1, 39, "(5000 characters)"),
    ("priority_out_of_range", "rule r on generation_pre_call priority " + "9" * 400 + " block\n", "GR0109", 1, 40, "out of range"),
    ("index_out_of_range", "on tool_pre_invoke when tool.args[" + "1" * 310 + "] == 1 block\n", "GR0109", 1, 35, "out of range"),
    ("index_not_literal", "on tool_pre_invoke when tool.args[tool.name] == 1 block\n", "GR0213", 1, 35, "literal"),
    ("tab_and_non_ascii", "# héllo wörld\n\ton generation_pre_call when tokéns > 3 block\n", "GR0102", 2, 33, "'é'"),
    ("map_not_constant", 'rule r on generation_pre_call when lookup({"a": model}, "a", 0) == 1 block\n', "GR0243", 1, 43, "bind it with `let`"),
    ("state_declared_twice", "counter c per user\ncounter c per user\nrule r on tool_pre_invoke add 1 to c\nrule q on tool_pre_invoke when c > 1 block\n", "GR0250", 2, 9, "t.rules:1:9"),
    ("state_named_like_a_fact", "counter user per tenant\nrule r on tool_pre_invoke add 1 to user\n", "GR0250", 1, 9, "name of a fact"),
    ("state_limit_not_a_number", 'counter c per user limit "x"\nrule r on tool_pre_invoke add 1 to c\nrule q on tool_pre_invoke when c > 1 block\n', "GR0251", 1, 26, "limit 30"),
    ("add_to_unknown_state", "counter c per user\nrule r on tool_pre_invoke add 1 to d\nrule q on tool_pre_invoke when c > 1 block\n", "GR0252", 2, 36, "unknown state 'd'"),
    ("track_a_counter", "counter c per user\nrule r on tool_pre_invoke track c\nrule q on tool_pre_invoke when c > 1 block\n", "GR0252", 2, 33, "cannot track counter"),
    ("recording_rule_reads_state", "counter c per user\nrule r on tool_pre_invoke when c > 1 add 1 to c\n", "GR0253", 2, 32, "cannot read state"),
    ("state_key_reads_state", "counter c per user\ncounter d per c\nrule r on tool_pre_invoke add 1 to d\nrule q on tool_pre_invoke add 1 to c\nrule s on tool_pre_invoke when d > 0 and c > 0 block\n", "GR0253", 2, 15, "a state's key or value"),
    ("field_needs_limit", "counter c per user\nrule r on tool_pre_invoke add 1 to c\nrule q on tool_pre_invoke when c.left > 1 block\n", "GR0255", 3, 32, "declare `limit`"),
    ("unknown_state_field", "counter c per user\nrule r on tool_pre_invoke add 1 to c\nrule q on tool_pre_invoke when c.total > 1 block\n", "GR0255", 3, 32, "c.resets_at"),
    ("window_and_keep", "counter c per user every 1h keep 2h\nrule r on tool_pre_invoke add 1 to c\nrule q on tool_pre_invoke when c > 1 block\n", "GR0256", 1, 34, "drop `keep`"),
    ("state_option_twice", "counter c per user limit 1 limit 2\nrule r on tool_pre_invoke add 1 to c\nrule q on tool_pre_invoke when c > 1 block\n", "GR0256", 1, 28, "already given"),
    ("window_too_short", "counter c per user every 500ms\nrule r on tool_pre_invoke add 1 to c\nrule q on tool_pre_invoke when c > 1 block\n", "GR0257", 1, 26, "1s to 366d"),
    ("breaker_no_failures", "rule r on tool_pre_invoke breaker 0 in 1m cooldown 30s block\n", "GR0285", 1, 35, "1 to 1000 failures"),
    ("breaker_unknown_setting", "rule r on tool_pre_invoke breaker of block\n", "GR0286", 1, 35, "`breaker off`"),
    ("breaker_window_too_short", "rule r on tool_pre_invoke breaker 3 in 500ms cooldown 30s block\n", "GR0287", 1, 40, "window runs from 1s to 1d"),
    ("breaker_cooldown_too_long", "rule r on tool_pre_invoke breaker 3 in 1m cooldown 2d block\n", "GR0287", 1, 52, "cooldown runs from 1s to 1d"),
    ("breaker_on_recording_rule", "counter c per user\nrule r on tool_pre_invoke breaker 3 in 1m cooldown 30s add 1 to c\nrule q on tool_pre_invoke when c > 1 block\n", "GR0288", 2, 27, "state exchange"),
    ("breaker_twice", "rule r on tool_pre_invoke breaker off breaker 3 in 1m cooldown 30s block\n", "GR0209", 1, 39, "one `breaker` clause"),
    ("add_a_string", "counter c per user\nrule r on tool_pre_invoke add tool.name to c\nrule q on tool_pre_invoke when c > 1 block\n", "GR0258", 2, 31, "found str"),
    # GR0275 (a missing extra) needs the import to fail: tests/test_detectors.py
    ("finding_field", "rule r on generation_post_call when pii(output)[0].scor > 1 block\n", "GR0276", 1, 37, "fields are type, score"),
    ("redact_entity", 'rule r on tool_post_invoke mode transform redact tool.output pii("SSN")\n', "GR0277", 1, 66, "US_SSN"),
    ("redact_score", "rule r on tool_post_invoke mode transform redact tool.output injection\n", "GR0278", 1, 62, "block instead"),
    ("redact_operator", "rule r on tool_post_invoke mode transform redact tool.output pii with blur\n", "GR0279", 1, 43, "with mask"),
    ("crlf_file", 'rule a\r\n  on generation_pre_call\r\n  when tokens > "x"\r\n  block\r\n', "GR0210", 3, 15, "int > str"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "code", "line", "column", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_broken_rule_reports_code_and_position(text, code, line, column, words):
    diags = [d for d in diagnostics_for(text) if d.severity is guardrails.Severity.ERROR]
    assert [(d.code, d.line, d.column) for d in diags] == [(code, line, column)]
    rendered = diags[0].render()
    assert words in f"{diags[0].message} {diags[0].hint}"
    assert rendered.startswith(f"t.rules:{line}:{column}: error[{code}]: ")
    assert code in CODES


def test_every_error_of_a_file_in_one_pass():
    text = (
        "on generation_precall when tokens > 3 block\n"  # unknown hook
        'on generation_pre_call when tokens > "x" block\n'  # type mismatch
        "rule r on generation_pre_call whn true block\n"  # syntax error
        "on tool_pre_invoke when tool.nme == 1 block\n"  # unknown fact, after the syntax error
    )
    codes = [(d.code, d.line) for d in diagnostics_for(text)]
    assert codes == [("GR0200", 1), ("GR0210", 2), ("GR0100", 3), ("GR0201", 4)]


def test_errors_in_several_files_in_one_load(tmp_path):
    (tmp_path / "a.rules").write_text("on generation_precall block\n")
    (tmp_path / "b.rules").write_text("on generation_pre_call when tokens > 'x' block\n")
    with pytest.raises(guardrails.RulesError) as info:
        guardrails.load(tmp_path)
    found = [(d.code, d.file.rsplit("/", 1)[-1]) for d in info.value.diagnostics]
    assert found == [("GR0200", "a.rules"), ("GR0210", "b.rules")]


def test_rendering_has_source_line_caret_and_hint():
    (diag,) = diagnostics_for('on tool_pre_invoke when tool.nme == "x" block\n')
    lines = diag.render().splitlines()
    assert lines[0] == (
        "t.rules:1:25: error[GR0201]: unknown fact 'tool.nme' on hook tool_pre_invoke"
    )
    assert lines[1] == '1 | on tool_pre_invoke when tool.nme == "x" block'
    caret_line = lines[2]
    assert caret_line.index("^") == len("1 | ") + 24
    assert caret_line.strip() == "^" * len("tool.nme")
    assert lines[3] == "  = hint: did you mean 'tool.name'?"


def test_caret_under_tab_indented_source_lines_up():
    (diag,) = diagnostics_for("\ton generation_pre_call when tokens > 'x' block\n")
    _, source, caret = diag.render().splitlines()[:3]
    assert source.index(">") == caret.index("^")


def test_rules_error_str_pickle_and_json():
    with pytest.raises(guardrails.RulesError) as info:
        guardrails.loads(
            "on generation_precall block\non tool_pre_invoke when x block\n", "p.rules"
        )
    err = info.value
    text = str(err)
    assert "p.rules:1:4: error[GR0200]" in text
    assert "p.rules:2:25: error[GR0202]" in text
    assert text.endswith("2 errors, 0 warnings")
    again = pickle.loads(pickle.dumps(err))
    assert [d.code for d in again.diagnostics] == ["GR0200", "GR0202"]
    data = json.loads(json.dumps(err.errors()))
    assert data[0]["code"] == "GR0200"
    assert (data[0]["file"], data[0]["line"], data[0]["column"]) == ("p.rules", 1, 4)
    assert {"code", "file", "line", "column", "message", "severity", "hint"} <= set(data[0])


def test_warnings_do_not_stop_a_load():
    policy = guardrails.loads("let spare = 1\non generation_pre_call when tokens > 3 block\n")
    assert [d.code for d in policy.warnings] == ["GR0300"]


def test_missing_path_and_empty_directory(tmp_path):
    assert [d.code for d in guardrails.check(tmp_path / "nope.rules")] == ["GR0104"]
    assert [d.code for d in guardrails.check(tmp_path)] == ["GR0105"]


def test_invalid_utf8_is_a_diagnostic(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_bytes(b"on generation_pre_call when prompt contains '\xff' block\n")
    (diag,) = guardrails.check(bad)
    assert diag.code == "GR0104"
    assert "UTF-8" in diag.message


def test_codes_are_unique_and_documented():
    assert all(code.startswith("GR") and len(code) == 6 for code in CODES)
    assert all(CODES.values())


def test_language_doc_lists_every_code():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "language.md").read_text()
    listed = {line.split("|")[1].strip() for line in doc.splitlines() if line.startswith("| GR")}
    assert listed == set(CODES)


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("counter c per user\nrule q on tool_pre_invoke when c > 1 block\n", "GR0310", "never updated, so it always reads 0"),
        ("counter c per user\nrule r on tool_pre_invoke add 1 to c\n", "GR0311", "updated but never read"),
    ],
)  # fmt: skip
def test_state_warnings_at_the_declared_name(text, code, words):
    (diag,) = diagnostics_for(text)
    assert (diag.code, diag.severity, diag.line, diag.column) == (code, "warning", 1, 9)
    assert words in diag.message and code in CODES


def test_a_breaker_on_an_on_error_ignore_rule_is_a_warning_at_the_clause():
    text = "rule r on tool_pre_invoke on_error ignore breaker 3 in 1m cooldown 30s block\n"
    (diag,) = diagnostics_for(text)
    assert (diag.code, diag.severity, diag.line, diag.column) == ("GR0325", "warning", 1, 43)
    assert "switches the rule off" in diag.message and "GR0325" in CODES
