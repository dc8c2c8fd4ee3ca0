"""evaluate(): cpex's phase order, priorities, blocking, transforms, audit, shadow, errors."""

from __future__ import annotations

import json
import math

import pytest

import guardrails

HOOK = "generation_pre_call"


def order(verdict: guardrails.Verdict) -> list[tuple[str, str]]:
    return [(r.rule_id, r.verdict) for r in verdict.rules]


def test_phase_order_beats_file_order_and_priority_orders_within_a_phase(policy_from):
    policy = policy_from(
        """
        rule faf on generation_pre_call mode fire_and_forget priority 1 warn
        rule conc on generation_pre_call mode concurrent priority 2 warn
        rule aud on generation_pre_call mode audit priority 3 warn
        rule trans on generation_pre_call mode transform priority 4 warn
        rule seq_late on generation_pre_call priority 50 warn
        rule seq_tie_a on generation_pre_call priority 10 warn
        rule seq_tie_b on generation_pre_call priority 10 warn
        """
    )
    ids = [r.rule_id for r in policy.evaluate(HOOK, {}).rules]
    assert ids == ["seq_tie_a", "seq_tie_b", "seq_late", "trans", "aud", "conc", "faf"]


def test_default_priority_is_100(policy_from):
    policy = policy_from(
        "rule early on generation_pre_call priority 99 warn\n"
        "rule default on generation_pre_call warn\n"
        "rule late on generation_pre_call priority 101 warn\n"
    )
    assert [r.rule_id for r in policy.evaluate(HOOK, {}).rules] == ["early", "default", "late"]
    assert {r.id: r.priority for r in policy.rules}["default"] == 100


def test_sequential_block_skips_later_rules_but_not_fire_and_forget(policy_from):
    policy = policy_from(
        """
        rule first on generation_pre_call priority 1 when tokens > 10 block "too big" code BIG
        rule second on generation_pre_call priority 2 warn
        rule shaper on generation_pre_call mode transform set model_options.x = 1
        rule watcher on generation_pre_call mode fire_and_forget warn "seen"
        """
    )
    v = policy.evaluate(HOOK, {"tokens": 11})
    assert (v.outcome, v.blocked_by, v.code, v.reason) == ("block", "first", "BIG", "too big")
    assert order(v) == [
        ("first", "block"),
        ("second", "skipped"),
        ("shaper", "skipped"),
        ("watcher", "warn"),
    ]
    assert v.payload == {"tokens": 11}


def test_transform_changes_are_seen_by_later_rules(policy_from):
    policy = policy_from(
        """
        rule cap on generation_pre_call mode transform priority 1
          when model_options.temperature > 1.0 set model_options.temperature = 1.0
        rule check_after on generation_pre_call mode audit
          when model_options.temperature > 1.0 block "still hot"
        rule see_new on generation_pre_call mode concurrent
          when model_options.temperature == 1.0 block "saw the new value" code SAW
        """
    )
    facts = {"model_options": {"temperature": 1.5, "top_p": 0.9}}
    v = policy.evaluate(HOOK, facts)
    assert order(v) == [("cap", "modify"), ("check_after", "pass"), ("see_new", "block")]
    assert v.outcome == "block" and v.code == "SAW"
    assert facts == {"model_options": {"temperature": 1.5, "top_p": 0.9}}  # input untouched


def test_modify_outcome_and_payload(policy_from):
    policy = policy_from(
        "rule cap on generation_pre_call mode transform when model_options.temperature > 1.0 "
        "set model_options.temperature = 1.0 set model_options.max_tokens = 256\n"
    )
    facts = {"prompt": "p", "model_options": {"temperature": 2.0}}
    v = policy.evaluate(HOOK, facts)
    assert v.outcome == "modify"
    assert v.payload == {"prompt": "p", "model_options": {"temperature": 1.0, "max_tokens": 256}}
    assert v.rule("cap").changes == ("model_options.temperature", "model_options.max_tokens")
    assert facts["model_options"] == {"temperature": 2.0}
    unchanged = {"model_options": {"temperature": 0.5}}
    v2 = policy.evaluate(HOOK, unchanged)
    assert v2.outcome == "allow" and v2.payload is unchanged


def test_set_creates_missing_maps_and_uses_expressions(policy_from):
    policy = policy_from(
        "rule r on generation_pre_call mode transform "
        "set model_options.max_tokens = min(tokens * 2, 100)\n"
    )
    v = policy.evaluate(HOOK, {"prompt": "x" * 40})  # 10 tokens
    assert v.payload["model_options"] == {"max_tokens": 20}


def test_redact_strings_and_nested_values(policy_from):
    policy = policy_from(
        "rule r on tool_post_invoke mode transform "
        "redact tool.output /\\d{3}-\\d{2}-\\d{4}/ with '<ssn>'\n"
        "rule s on tool_pre_invoke mode transform redact tool.args /secret/i\n"
    )
    v = policy.evaluate("tool_post_invoke", {"tool": {"output": "id 123-45-6789 ok"}})
    assert v.payload["tool"]["output"] == "id <ssn> ok"
    v = policy.evaluate("tool_pre_invoke", {"tool": {"args": {"q": ["a SECRET", 3]}}})
    assert v.payload["tool"]["args"] == {"q": ["a [REDACTED]", 3]}


def test_redact_with_several_patterns_replaces_each_secret_once(policy_from):
    # the second pattern would match inside the first one's replacement if the
    # patterns were applied one after another
    policy = policy_from(
        "let secrets = [/sk-[a-z0-9]{8,}/, /key=\\S{6,}/, /b+/, /abc/]\n"
        "rule r on tool_post_invoke mode transform redact tool.output secrets with '[X]'\n"
    )
    text = "key=sk-abcdefghij then sk-12345678 and bbb abc end"
    v = policy.evaluate("tool_post_invoke", {"tool": {"output": text}})
    # `key=sk-...` overlaps its sk- match: one replacement; so do `abc` and its `b`
    assert v.payload["tool"]["output"] == "[X] then [X] and [X] [X] end"


def test_audit_block_is_would_block_and_allows(policy_from):
    policy = policy_from(
        "rule a on generation_pre_call mode audit when tokens > 1 block 'r' code C"
    )
    v = policy.evaluate(HOOK, {"tokens": 5})
    assert v.outcome == "allow" and v.blocked_by is None
    (result,) = v.would_block
    assert (result.rule_id, result.code, result.reason) == ("a", "C", "r")


def test_warn_allows_and_records(policy_from):
    policy = policy_from("rule w on generation_pre_call when tokens > 1 warn 'big' code BIG")
    v = policy.evaluate(HOOK, {"tokens": 5})
    assert v.outcome == "allow"
    assert [(r.rule_id, r.code, r.reason) for r in v.warnings] == [("w", "BIG", "big")]


def test_default_code_and_reason(policy_from):
    policy = policy_from("on generation_pre_call when tokens > 1 block")
    v = policy.evaluate(HOOK, {"tokens": 5})
    assert v.blocked_by == "t:1"
    assert v.code == "GUARDRAIL_BLOCK"
    assert v.reason == "blocked by rule t:1"


def test_shadow_true_turns_blocks_into_would_blocks():
    text = "rule a on generation_pre_call when tokens > 1 block\n"
    v = guardrails.loads(text, shadow=True).evaluate(HOOK, {"tokens": 5})
    assert v.outcome == "allow"
    assert [r.verdict for r in v.rules] == ["would_block"]


def test_shadow_subset_by_id_and_glob():
    text = (
        "rule pii_a on generation_pre_call priority 1 when tokens > 1 block\n"
        "rule pii_b on generation_pre_call priority 2 when tokens > 1 block\n"
        "rule budget on generation_pre_call priority 3 when tokens > 1 block\n"
    )
    policy = guardrails.loads(text, shadow=["pii_*"])
    v = policy.evaluate(HOOK, {"tokens": 5})
    assert order(v) == [("pii_a", "would_block"), ("pii_b", "would_block"), ("budget", "block")]
    assert policy.shadowed == {"pii_a", "pii_b"}
    with pytest.raises(guardrails.GuardrailsError, match="match no rule: nope"):
        guardrails.loads(text, shadow=["nope"])


def test_rule_error_fails_closed_in_blocking_and_transform_modes(policy_from):
    policy = policy_from(
        "rule t on generation_pre_call mode transform when prompt contains 'x' "
        "set model_options.a = 1\n"
    )
    v = policy.evaluate(HOOK, {"prompt": 42})
    assert v.outcome == "block" and v.blocked_by == "t" and v.code == "GUARDRAIL_ERROR"
    assert "rule t failed" in v.reason


@pytest.mark.parametrize(
    ("rule", "shadow"),
    [
        ("rule r on generation_pre_call mode audit when prompt contains 'x' block", False),
        ("rule r on generation_pre_call when prompt contains 'x' warn", False),
        (
            "rule r on generation_pre_call mode enforce_ignore_error when prompt contains 'x' block",
            False,
        ),
        ("rule r on generation_pre_call mode fire_and_forget when prompt contains 'x' warn", False),
        ("rule r on generation_pre_call when prompt contains 'x' block", True),
    ],
    ids=["audit", "warn_only", "on_error_ignore", "fire_and_forget", "shadowed"],
)
def test_rule_error_is_recorded_but_does_not_block(rule, shadow):
    v = guardrails.loads(rule, shadow=shadow).evaluate(HOOK, {"prompt": 42})
    assert v.outcome == "allow"
    assert v.rule("r").verdict == "error"


def test_facts_that_are_not_a_mapping_fail_closed(policy_from):
    policy = policy_from("rule r on generation_pre_call when tokens > 1 block")
    v = policy.evaluate(HOOK, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert v.outcome == "block" and v.rule("r").verdict == "error"
    assert "mapping" in v.rule("r").error


def test_a_given_derived_fact_never_undercuts_the_estimate_and_tokenizer_is_pluggable():
    text = "rule r on generation_pre_call when tokens > 3 block\n"
    default = guardrails.loads(text)
    assert default.evaluate(HOOK, {"prompt": "x" * 13}).outcome == "block"  # ceil(13/4) = 4
    assert default.evaluate(HOOK, {"prompt": "x" * 12}).outcome == "allow"  # 3
    assert default.evaluate(HOOK, {"prompt": "x" * 100, "tokens": 2}).outcome == "block"  # 25
    assert default.evaluate(HOOK, {"prompt": "x", "tokens": 5}).outcome == "block"  # given 5
    assert default.evaluate(HOOK, {"tokens": 5}).outcome == "block"  # no prompt: the given
    for bad in (-1, math.nan, math.inf, "5", True):
        verdict = default.evaluate(HOOK, {"prompt": "x" * 40_000, "tokens": bad})
        assert verdict.outcome == "block" and verdict.rule("r").verdict == "error", bad
    words = guardrails.loads(text, tokenizer=lambda s: len(s.split()))
    assert words.evaluate(HOOK, {"prompt": "a b c d"}).outcome == "block"
    assert words.evaluate(HOOK, {"prompt": "abcdefghijklmnop"}).outcome == "allow"


def test_prompt_as_chat_messages_counts_tokens_of_contents():
    policy = guardrails.loads("rule r on generation_pre_call when tokens > 3 block\n")
    messages = [{"role": "system", "content": "xxxxxxxx"}, {"role": "user", "content": "yyyyyyy"}]
    assert policy.evaluate(HOOK, {"prompt": messages}).outcome == "block"  # 16 chars -> 4


def test_tokens_are_derived_once_per_call():
    calls = []

    def counting(text: str) -> int:
        calls.append(text)
        return len(text)

    policy = guardrails.loads(
        "rule a on generation_pre_call priority 1 when tokens > 100 block\n"
        "rule b on generation_pre_call priority 2 when tokens > 50 warn\n"
        "rule c on generation_pre_call priority 3 when tokens > 10 warn\n",
        tokenizer=counting,
    )
    policy.evaluate(HOOK, {"prompt": "x" * 20})
    assert len(calls) == 1


def test_rule_on_several_hooks(policy_from):
    policy = policy_from(
        "rule r on generation_pre_call, generation_batch_pre_call when tokens > 1 block\n"
    )
    for hook in ("generation_pre_call", "generation_batch_pre_call"):
        assert policy.evaluate(hook, {"tokens": 5}).blocked_by == "r"
    assert policy.evaluate("tool_pre_invoke", {}).rules == ()


def test_unknown_hook_raises_with_suggestion(policy_from):
    policy = policy_from("rule r on generation_pre_call block")
    with pytest.raises(guardrails.GuardrailsError, match="did you mean 'generation_pre_call'"):
        policy.evaluate("generation_precall", {})


def test_to_dict_is_json_ready(policy_from):
    policy = policy_from(
        "rule r on generation_pre_call mode transform when tokens > 1 set model_options.t = 0.5\n"
    )
    v = policy.evaluate(HOOK, {"tokens": 5, "odd": object(), "inf": float("inf")})
    data = json.loads(json.dumps(v.to_dict()))
    assert data["outcome"] == "modify"
    assert data["payload"]["model_options"] == {"t": 0.5}
    assert data["payload"]["odd"] == "<object>"
    assert data["rules"][0] == {
        "rule": "r",
        "hook": HOOK,
        "mode": "transform",
        "priority": 100,
        "verdict": "modify",
        "location": "t.rules:1",
        "code": None,
        "reason": None,
        "error": None,
        "changes": ["model_options.t"],
        "notes": [],
    }


def test_mode_aliases():
    policy = guardrails.loads(
        "rule a on generation_pre_call mode enforce block\n"
        "rule b on generation_pre_call mode enforce_ignore_error block\n"
        "rule c on generation_pre_call mode permissive warn\n"
    )
    info = {r.id: (r.mode, r.on_error) for r in policy.rules}
    assert info == {
        "a": ("sequential", "fail"),
        "b": ("sequential", "ignore"),
        "c": ("transform", "fail"),
    }


def test_on_error_clause():
    ignore = guardrails.loads(
        "rule r on generation_pre_call on_error ignore when prompt contains 'x' block\n"
    )
    assert ignore.rules[0].on_error == "ignore"
    v = ignore.evaluate(HOOK, {"prompt": 42})
    assert v.outcome == "allow" and v.rule("r").verdict == "error"
    fail = guardrails.loads(
        "rule r on generation_pre_call on_error fail when prompt contains 'x' block"
    )
    assert fail.evaluate(HOOK, {"prompt": 42}).outcome == "block"
    with pytest.raises(guardrails.RulesError, match="GR0235"):
        guardrails.loads("rule r on generation_pre_call on_error maybe block")


def test_a_rule_that_only_records_shows_record_after_a_block_too():
    """A blocked call still counts (it arrived): the detail says so for a recording
    rule after the blocking one, instead of calling it skipped; one whose condition did
    not hold ran too (in the exchange, before any rule), so it passed."""
    policy = guardrails.loads(
        "counter calls per user limit 1\n"
        "rule cap on tool_pre_invoke priority 1 when calls >= calls.limit block code CAP\n"
        "rule count on tool_pre_invoke priority 2 add 1 to calls\n"
        "rule quiet on tool_pre_invoke priority 3 when tool.name == 'x' add 1 to calls\n"
        "rule later on tool_pre_invoke priority 4 when tool.name == 'y' block\n"
    )
    facts = {"user": "a", "tool": {"name": "y"}}
    first = policy.evaluate("tool_pre_invoke", facts, now=0.0)
    assert [r.verdict for r in first.rules] == ["pass", "record", "pass", "block"]
    second = policy.evaluate("tool_pre_invoke", facts, now=1.0)
    assert [(r.rule_id, r.verdict, r.changes) for r in second.rules] == [
        ("cap", "block", ()),
        ("count", "record", ("calls",)),
        ("quiet", "pass", ()),
        ("later", "skipped", ()),
    ]
