"""The editor features as pure functions: completion, hover, definition, references.

Each case is a rules text with `|` at the cursor; positions and ranges are the
protocol's (0-based lines, UTF-16 characters). The texts are half-typed or broken on
purpose: that is what an editor asks about.
"""

from __future__ import annotations

from pathlib import Path

import guardrails  # noqa: F401  (registers the hosts' hooks into the default catalog)
from guardrails.check.builtins import BUILTINS
from guardrails.check.catalog import DEFAULT_CATALOG
from guardrails.tooling.lsp import reference
from guardrails.tooling.lsp.complete import complete
from guardrails.tooling.lsp.hover import hover
from guardrails.tooling.lsp.lexed import Range, offset_at, position_of
from guardrails.tooling.lsp.symbols import Location, definition, references


def _cursor(marked: str) -> tuple[str, int, int]:
    before, _, after = marked.partition("|")
    line = before.count("\n")
    last = before[before.rfind("\n") + 1 :]
    return before + after, line, len(last.encode("utf-16-le")) // 2  # the protocol's units


def items(marked: str, **others: str):
    text, line, char = _cursor(marked)
    return complete({"a.rules": text, **others}, "a.rules", line, char, DEFAULT_CATALOG)


def labels(marked: str, **others: str) -> list[str]:
    return [c.label for c in items(marked, **others)]


def hover_at(marked: str, **others: str):
    text, line, char = _cursor(marked)
    return hover({"a.rules": text, **others}, "a.rules", line, char, DEFAULT_CATALOG)


# ---- completion ----


def test_hooks_after_on_filtered_by_the_prefix_replacing_it():
    found = items("on gen|")
    assert "generation_pre_call" in [c.label for c in found]
    assert all(c.label.startswith("gen") and c.kind == "hook" for c in found)
    assert found[0].range == Range((0, 3), (0, 6))


def test_the_next_hook_after_a_comma():
    assert "tool_post_invoke" in labels("rule r\n  on tool_pre_invoke, tool_p|")


def test_facts_of_the_rules_hook_with_their_types():
    found = {c.label: c for c in items("rule r on generation_pre_call\n  when |")}
    assert [c.detail for c in items("rule r on generation_pre_call\n  when tok|")] == [
        "int (normalized)",  # the fact
        "tokens(x: str | list) -> int",  # and the function
    ]
    assert found["prompt"].kind == "fact"
    assert "tool" not in found  # no tool on a generation hook
    assert found["len"].detail == "len(x: str | list | map) -> int"


def test_fields_after_a_dot_are_those_of_the_hook():
    assert labels("rule r on tool_pre_invoke when tool.|") == ["args", "name"]
    assert labels("rule r on after_tool when tool.|") == ["args", "error", "id", "name", "output"]


def test_only_facts_every_hook_of_the_rule_has():
    assert labels("on tool_post_invoke, after_tool when tool.|") == ["args", "name", "output"]


def test_a_half_typed_field_is_completed_from_its_prefix():
    found = items("rule r on after_tool when tool.ou|")
    assert [c.label for c in found] == ["output"]
    assert found[0].range == Range((0, 31), (0, 33))


def test_only_writable_facts_after_set_and_redact():
    assert labels("rule r on generation_pre_call\n  set |") == [
        "format",
        "model_options",
        "tool_calls",
    ]
    assert labels("rule r on after_tool\n  redact tool.|") == ["output"]
    assert labels("rule r on after_tool when true\n  redact |") == ["tool"]


def test_a_map_facts_keys_come_from_the_ruleset():
    other = "rule b on generation_pre_call when model_options.temperature > 1 block\n"
    got = labels(
        "rule r on generation_pre_call mode transform\n  set model_options.|", **{"b.rules": other}
    )
    assert got == ["temperature"]
    assert labels("rule r on generation_pre_call\n  set model_options.te|") == []


def test_lint_codes_inside_an_ignore_comment():
    found = items("rule r on generation_pre_call  # guardrails: ignore[GR03|")
    assert [c.label for c in found] == reference.lint_codes()
    assert found[0].range == Range((0, 52), (0, 56))
    assert "GR0302, GR030" not in labels("x # guardrails: ignore[GR0302, GR030|")
    assert "GR0301" in labels("x # guardrails: ignore[GR0302, GR030|")


def test_nothing_in_a_plain_comment_or_a_string():
    assert labels("rule r on tool_pre_invoke # when tool.|") == []
    assert labels('rule r on tool_pre_invoke when tool.name == "tool.|"') == []
    assert labels('rule r on tool_pre_invoke when tool.name == "tool.|') == []


def test_modes_and_their_aliases():
    got = labels("rule r on generation_pre_call mode |")
    assert {
        "sequential",
        "transform",
        "audit",
        "concurrent",
        "fire_and_forget",
        "permissive",
    } <= set(got)
    assert labels("rule r on generation_pre_call on_error |") == ["fail", "ignore"]


def test_lets_of_every_file_and_functions_in_an_expression():
    found = {
        c.label: c
        for c in items(
            "rule r on generation_pre_call when model in |", **{"b.rules": "let approved = ['x']\n"}
        )
    }
    assert found["approved"].kind == "let"
    assert "`let approved = ['x']`" in found["approved"].doc
    assert found["normalize"].insert == "normalize("


def test_a_let_value_offers_lets_and_functions_but_no_facts():
    got = labels("let a = 1\nlet b = |")
    assert "a" in got and "len" in got and "prompt" not in got


def test_after_a_complete_operand_operators_clauses_and_actions():
    got = labels("rule r on generation_pre_call when tokens > 4000 |")
    assert {"and", "or", "matches", "not in", "unless", "block", "warn", "set"} <= set(got)
    assert "when" not in got and "on" not in got  # clauses already written
    assert "prompt" not in got


def test_a_rule_header_is_followed_by_clauses_and_actions():
    got = labels('rule r "why"\n  |')
    assert "on" in got and "when" in got and "block" in got


def test_items_at_the_start_of_a_file():
    assert labels("|") == ["counter", "let", "on", "rule", "streak"]
    assert labels("ru|") == ["rule"]


def test_states_after_track_and_add_to():
    decls = "counter calls per user every 1h\nstreak fails per user of true\n"
    assert labels("on before_tool add 1 to |", **{"s.rules": decls}) == ["calls"]
    assert labels("on before_tool track |", **{"s.rules": decls}) == ["fails"]


def test_bound_element_names_of_quantifiers():
    assert "m" in labels("on before_llm when any m in messages: |")


def test_a_broken_item_before_does_not_stop_completion():
    text = "rule broken on when ((( block\nlet = \nrule r on tool_pre_invoke when tool.|"
    assert labels(text) == ["args", "name"]


def test_ranges_count_utf16_units():
    found = items('on tool_pre_invoke when "😀" == tool.na|')
    assert found[0].range == Range((0, 37), (0, 39))  # the emoji is two units


def test_every_builtin_function_is_documented():
    for name in BUILTINS.functions:
        signature, doc = reference.function_doc(name) or ("", "")
        assert signature.startswith(name + "(") and doc, name


# ---- hover ----


def test_hover_on_a_fact_gives_type_source_per_host_and_writability():
    found = hover_at('rule r on tool_pre_invoke, before_tool when tool.na|me == "x" block')
    assert found is not None
    assert found.range == Range((0, 49), (0, 53))
    assert found.markdown.splitlines()[0] == "`tool.name`: str"
    assert (
        "- `tool_pre_invoke`: mellea: normalized by its adapter, cpex: normalized by its adapter; writable"
        in found.markdown
    )
    assert "- `before_tool`: haystack: given by its adapter; read-only" in found.markdown


def test_hover_on_a_payload_field_and_a_context_fact():
    field = hover_at("rule r on generation_pre_call when model_op|tions.temperature > 1 block")
    assert field is not None and "mellea: payload field; writable" in field.markdown
    assert field.range == Range((0, 35), (0, 48))
    ctx = hover_at("rule r on generation_pre_call when us|er == 1 block")
    assert ctx is not None and "the call's context (cpex GlobalContext); read-only" in ctx.markdown


def test_hover_on_a_key_of_a_map_fact():
    found = hover_at('rule r on generation_pre_call when user.ro|le == "x" block')
    assert (
        found is not None
        and found.markdown == "`user.role`: a key of `user` (any), read when the rule runs"
    )


def test_hover_on_a_function_gives_its_signature_and_doc():
    found = hover_at("rule r on generation_pre_call when le|n(prompt) > 1 block")
    assert found is not None
    assert found.markdown.startswith("```\nlen(x: str | list | map) -> int\n```")
    assert found.range == Range((0, 35), (0, 38))


def test_hover_on_a_let_shows_its_value_from_another_file():
    found = hover_at(
        "on generation_pre_call when model in appro|ved block",
        **{"b.rules": "let approved = [\n  'x',\n  'y',\n]\n"},
    )
    assert found is not None
    assert found.markdown == "```\nlet approved = [ 'x', 'y', ]\n```\n\ndefined in b.rules"


def test_hover_on_a_rule_id_shows_its_description():
    found = hover_at(
        'rule tok|en_budget "prompts over budget are refused"\n  on generation_pre_call\n  block'
    )
    assert found is not None
    assert found.markdown.startswith("rule `token_budget`: prompts over budget are refused")
    assert found.range == Range((0, 5), (0, 17))


def test_hover_on_a_diagnostic_code_in_a_comment():
    found = hover_at("rule r on x  # guardrails: ignore[GR0302, GR03|01]")
    assert found is not None
    assert found.markdown.startswith("**GR0301**: rule can never fire")
    assert found.range == Range((0, 42), (0, 48))
    error = hover_at("# see GR02|01")
    assert error is not None and "cannot be switched off" in error.markdown


def test_hover_on_a_hook_and_a_mode():
    found = hover_at("rule r on generation_pre|_call mode audit block")
    assert (
        found is not None and "writable: `format`, `model_options`, `tool_calls`" in found.markdown
    )
    mode = hover_at("rule r on generation_pre_call mode aud|it block")
    assert mode is not None and mode.markdown.startswith("mode `audit`")


def test_no_hover_on_blank_space_or_an_unknown_name():
    assert hover_at("rule r on generation_pre_call   |   when x block") is None
    assert hover_at("rule r on generation_pre_call when nosu|chthing block") is None


# ---- definition and references ----

LETS = "let approved = ['x']\ncounter calls per user every 1h\n"
USES = (
    "# approved in a comment is not a use\n"
    "rule r on generation_pre_call\n"
    '  when model in approved and payload.approved == "approved"\n'
    "  add 1 to calls\n"
)


def test_definition_of_a_let_in_another_file():
    found = definition({"a.rules": USES, "b.rules": LETS}, "a.rules", 2, 19)
    assert found == [Location("b.rules", Range((0, 4), (0, 12)))]


def test_references_of_a_let_across_files():
    texts = {"a.rules": USES, "b.rules": LETS}
    found = references(texts, "b.rules", 0, 6)
    assert found == [
        Location("a.rules", Range((2, 16), (2, 24))),  # not the field, comment or string
        Location("b.rules", Range((0, 4), (0, 12))),
    ]
    assert references(texts, "b.rules", 0, 6, declaration=False) == found[:1]


def test_definition_and_references_of_a_state():
    texts = {"a.rules": USES, "b.rules": LETS}
    assert definition(texts, "a.rules", 3, 12) == [Location("b.rules", Range((1, 8), (1, 13)))]
    assert len(references(texts, "a.rules", 3, 12)) == 2


def test_a_duplicated_rule_id_leads_to_every_definition():
    texts = {"a.rules": "rule dup on x block\n", "b.rules": "let y = 1\nrule dup on y block\n"}
    want = [Location("a.rules", Range((0, 5), (0, 8))), Location("b.rules", Range((1, 5), (1, 8)))]
    assert definition(texts, "a.rules", 0, 6) == want
    assert references(texts, "b.rules", 1, 5) == want


def test_no_definition_for_a_fact_or_a_keyword():
    texts = {"a.rules": USES, "b.rules": LETS}
    assert definition(texts, "a.rules", 2, 9) == []  # model
    assert definition(texts, "a.rules", 2, 3) == []  # when
    assert definition(texts, "a.rules", 2, 35) == []  # payload.approved is a field


def test_definition_in_a_file_that_does_not_parse():
    texts = {"a.rules": "rule r on x when approved and (((\n", "b.rules": LETS}
    assert definition(texts, "a.rules", 0, 20) == [Location("b.rules", Range((0, 4), (0, 12)))]


# ---- positions ----


def test_positions_round_trip_through_utf16():
    text = "a😀b\nc"
    assert position_of(text, 2) == (0, 3)
    assert offset_at(text, 0, 3) == 2
    assert offset_at(text, 1, 99) == len(text)
    assert offset_at(text, 5, 0) == len(text)


# ---- robustness ----


def test_every_prefix_of_the_projects_rules_answers_without_failing():
    """What an editor sends while a file is typed from the top: each cut of the text
    (here every 29th), completed and hovered at its end."""
    root = Path(__file__).resolve().parent.parent / "rules"
    asked = 0
    for path in sorted(root.glob("*.rules")):
        text = path.read_text()
        for cut in range(0, len(text), 29):
            texts = {"a.rules": text[:cut]}
            line, char = position_of(text, cut)
            complete(texts, "a.rules", line, char, DEFAULT_CATALOG)
            hover(texts, "a.rules", line, char, DEFAULT_CATALOG)
            definition(texts, "a.rules", line, char)
            asked += 1
    assert asked > 250


def test_a_lone_backslash_ends_an_unterminated_string():
    assert labels('on tool_pre_invoke when tool.name == "a\\') == []
    assert labels('on tool_pre_invoke when tool.name == "a\\\n  unless tool.|') == ["args", "name"]


def test_a_redact_pattern_offers_lets_and_detectors():
    got = labels(
        "rule r on generation_pre_call\n  redact prompt |", **{"b.rules": "let keys = /k/\n"}
    )
    assert got == ["injection", "keys", "pii", "secrets"]


def test_after_an_action_clauses_actions_and_new_items():
    got = labels("rule r on before_llm\n  when x\n  block\n|")
    assert {"unless", "warn", "rule", "let", "on"} <= set(got)
    assert "and" not in got and "when" not in got
    assert "rule" not in labels("rule r on before_llm when x block |")  # not at a line start


def test_after_a_let_value_operators_and_new_items_only():
    assert labels("let a = [1, 2]\n|") == sorted(
        ["and", "contains", "counter", "endswith", "in", "let", "matches", "not in", "on", "or",
         "rule", "startswith", "streak"]
    )  # fmt: skip


def test_hover_on_a_fact_of_a_rule_whose_hook_is_misspelt_names_the_hooks_having_it():
    found = hover_at("on generation_pre_cal when tool.out|put block")
    assert found is not None
    assert found.markdown.endswith("a fact of `after_tool`, `tool_post_invoke`")


def test_hover_on_a_quantifiers_element():
    found = hover_at('on before_llm when any m in messages: m|.role == "user" block')
    assert found is not None and found.markdown == "`m`: each element of `messages` (`any`)"
    assert found.range == Range((0, 38), (0, 39))


def test_inside_a_reasons_braces_facts_of_the_hook_lets_and_states():
    found = {c.label: c for c in items('let lim = 3\nrule r on tool_pre_invoke block "no {|}"')}
    assert found["tool"].detail == "namespace" and found["lim"].kind == "let"
    assert "prompt" not in found  # a fact of another hook
    [name] = items('rule r on tool_pre_invoke block "no {tool.na|"')
    assert (name.label, name.kind, name.range) == ("name", "fact", Range((0, 42), (0, 44)))
    with_state = labels('counter c per user.id\nrule r on tool_pre_invoke warn "n={|')
    assert sorted(with_state) == sorted(["c", *labels('rule r on tool_pre_invoke warn "n={|')])


def test_no_facts_in_braces_escaped_closed_or_outside_a_reason():
    assert labels('rule r on tool_pre_invoke block "{{|"') == []
    assert labels('rule r on tool_pre_invoke block "{tool.name} |"') == []
    assert labels('rule r "a description {|" on tool_pre_invoke block') == []
    assert labels('rule r on tool_pre_invoke redact tool.args.x "{|"') == []


def test_code_after_a_block_warn_or_continue_and_its_reason():
    [code] = [c for c in items('rule r on tool_pre_invoke block "no" c|') if c.label == "code"]
    assert (code.insert, code.range) == ("code ", Range((0, 37), (0, 38)))
    assert "code" in labels("on tool_pre_invoke warn |")
    assert "code" not in labels('rule r on tool_pre_invoke block "no" code C1 |')
    assert "code" not in labels("rule r on tool_pre_invoke when tokens > 3 |")


def test_host_functions_are_completed_and_hovered_with_their_signature():
    from guardrails.policy.frontend import host_table

    def is_vip(user: str) -> bool:
        """whether the user is on the VIP list"""
        return False

    table = host_table({"is_vip": is_vip}, None)
    text = "rule r on tool_pre_invoke when is_v"
    [fn] = complete({"a.rules": text}, "a.rules", 0, len(text), DEFAULT_CATALOG, table)
    assert (fn.label, fn.detail, fn.insert) == ("is_vip", "is_vip(user: str) -> bool", "is_vip(")
    assert "VIP list" in fn.doc
    judge = [c for c in complete({"a.rules": text[:-4] + "jud"}, "a.rules", 0, len(text) - 1,
                                 DEFAULT_CATALOG, table) if c.label == "judge"]  # fmt: skip
    assert "guardrails lsp --judge" in judge[0].doc  # declared, but nothing to run on
    shown = hover({"a.rules": text + "ip(user)"}, "a.rules", 0, 33, DEFAULT_CATALOG, table)
    assert shown is not None and shown.markdown.startswith("```\nis_vip(user: str) -> bool\n```")
    assert shown.range == Range((0, 31), (0, 37))
