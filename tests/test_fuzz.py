"""Fuzzing: hostile rule texts and hostile payloads never escape as anything but a
RulesError (for rules) or a defined verdict (for payloads).

CI runs a few thousand examples; the long run is

    GUARDRAILS_FUZZ_EXAMPLES=100000 python -m pytest tests/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from pathlib import Path
from typing import Any

import pytest
from cpex.framework import GlobalContext, PluginError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import guardrails

logging.getLogger("cpex").setLevel(logging.CRITICAL)
EXAMPLES = int(os.environ.get("GUARDRAILS_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
ROOT = Path(__file__).resolve().parents[1]
RULE_TEXTS = [p.read_text() for p in sorted((ROOT / "rules").glob("*.rules"))]

WORDS = [
    "rule", "on", "when", "unless", "block", "warn", "set", "redact", "with", "code", "mode",
    "priority", "on_error", "let", "and", "or", "not", "in", "contains", "matches",
    "startswith", "endswith", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "(", ")",
    "[", "]", ",", ".", "=", "true", "false", "null", "generation_pre_call", "tool_pre_invoke",
    "generation_post_call", "tokens", "prompt", "tool.name", "tool.args", "model_options",
    "user.role", "audit", "transform", "sequential", "fire_and_forget", "ignore", "len",
    "lower", "exists", "text", "tokens(", "0", "1", "-1", "4000", "1.5", "1e9", '"x"', "'y'",
    '"\\n"', '"\\q"', '"unterminated', "/a+/", "/(a)\\1/", "/[/", "/x/q", "/(?=a)/", "#", "\n",
    "\t", "é", "\u202e", "\x00", "rule", "CODE", "_", "a" * 300,
]  # fmt: skip

token_soup = st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join)


@st.composite
def mutated_rules(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(RULE_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        pos = draw(st.integers(0, len(text) - 1))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(st.sampled_from(WORDS))
        if kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        elif kind == "insert":
            text = text[:pos] + piece + text[pos:]
        elif kind == "replace":
            text = text[:pos] + piece + text[pos + len(piece) :]
        else:
            text = text[:pos] + text[pos : pos + 200] + text[pos:]
    return text


def _load_or_diagnose(text: str) -> None:
    try:
        policy = guardrails.loads(text, "fuzz.rules")
    except guardrails.RulesError as err:
        lines = text.split("\n")
        assert err.diagnostics
        for d in err.diagnostics:
            assert 1 <= d.line <= len(lines), (d, len(lines))
            assert 1 <= d.column <= len(lines[d.line - 1]) + 1, d
            assert (
                d.code in guardrails.diagnostics.CODES
                if hasattr(guardrails, "diagnostics")
                else True
            )
        str(err)  # renders
        return
    for hook in policy.hooks:
        verdict = policy.evaluate(hook, {})
        assert verdict.outcome in ("allow", "block", "modify")


@FUZZ
@given(token_soup)
def test_token_soup_loads_or_gets_diagnostics(text):
    _load_or_diagnose(text)


@FUZZ
@given(mutated_rules())
def test_mutated_rule_files_load_or_get_diagnostics(text):
    _load_or_diagnose(text)


def test_deep_nesting_and_huge_files_get_diagnostics():
    for text, code in [
        ("on generation_pre_call when " + "not " * 10_000 + "tokens > 1 block", "GR0107"),
        ("on generation_pre_call when " + " or ".join(["tokens > 1"] * 5000) + " block", "GR0107"),
        ("on generation_pre_call when " + "-" * 10_000 + "1 > 0 block", "GR0107"),
        ("# " + "x" * 5_000_001 + "\non generation_pre_call block", "GR0108"),
    ]:
        try:
            guardrails.loads(text)
        except guardrails.RulesError as err:
            assert [d.code for d in err.diagnostics] == [code]
        else:
            raise AssertionError(f"{code} expected")
    assert (
        len(
            guardrails.loads(
                "on generation_pre_call when " + "(" * 3000 + "tokens > 1" + ")" * 3000 + " block"
            ).rules
        )
        == 1
    )


def _chain(n: int, wrap: str, reverse: bool) -> str:
    """`let a0 = 1`, `let a1 = a0` ... (or `[a0]`), declared forwards or backwards."""
    lines = ["let a0 = 1"] + [f"let a{i} = {wrap.format(f'a{i - 1}')}" for i in range(1, n + 1)]
    return "\n".join(lines[::-1] if reverse else lines) + "\n"


HOSTILE = [
    ("regex_count_overflow", "on generation_pre_call when prompt matches /a{99999999999}/ block", "GR0220"),
    ("regex_count_digits", "on generation_pre_call when prompt matches 'a{" + "9" * 5000 + "}' block", "GR0220"),
    ("regex_groups", "on generation_pre_call when prompt matches /" + "(" * 600 + "a" + ")" * 600 + "/ block", "GR0220"),
    ("regex_in_let", "let p = /a{99999999999}/\non generation_pre_call when prompt matches p block", "GR0220"),
    ("regex_in_redact", "rule r on tool_post_invoke redact tool.output /x{4294967296}/", "GR0220"),
    ("regex_lone_surrogate", 'rule r on tool_post_invoke redact tool.output "a\\ud800"', "GR0220"),
    ("string_escape_past_unicode", 'on generation_pre_call when prompt contains "\\UFFFFFFFF" block', "GR0103"),
    ("int_digits", "on generation_pre_call when tokens > " + "9" * 5000 + " block", "GR0109"),
    ("float_exponent", "on generation_pre_call when tokens > 1e999999 block", "GR0109"),
    ("int_in_let_list", "let xs = [1, " + "9" * 5000 + "]\non generation_pre_call when tokens in xs block", "GR0109"),
    ("int_priority", "rule r on generation_pre_call priority -" + "9" * 5000 + " block", "GR0109"),
    ("int_index", "on tool_pre_invoke when tool.args[" + "9" * 5000 + "] == 1 block", "GR0109"),
    ("let_chain", _chain(1000, "{}", False) + "on generation_pre_call when tokens > a1000 block", "GR0242"),
    ("let_chain_backwards", _chain(1000, "{}", True) + "on generation_pre_call when tokens > a1000 block", "GR0242"),
    ("let_list_chain", _chain(1000, "[{}]", False) + "on generation_pre_call when tokens in a1000 block", "GR0242"),
    ("let_chain_unused", _chain(2000, "[1, {}]", True) + "on generation_pre_call block", "GR0242"),
    ("let_cycle_long", "".join(f"let a{i} = a{(i + 1) % 3000}\n" for i in range(3000)) + "on generation_pre_call when tokens > a0 block", "GR0240"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "code"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_texts_are_diagnostics_in_load_check_and_reload(text, code, tmp_path):
    with pytest.raises(guardrails.RulesError) as info:
        guardrails.loads(text, "h.rules")
    assert code in [d.code for d in info.value.diagnostics if d.severity.name == "ERROR"]
    path = tmp_path / "h.rules"
    path.write_text(text)
    assert code in [d.code for d in guardrails.check(path)]
    policy = guardrails.loads("on generation_pre_call when tokens > 1 block")
    with pytest.raises(guardrails.RulesError):
        policy.reload(text)
    _load_or_diagnose(text)


def test_lone_surrogates_in_loads_text_load():
    # Files are read as UTF-8 and cannot hold one; a str given to loads() can.
    policy = guardrails.loads('# \ud800\non generation_pre_call when prompt == "\ud800" block')
    assert policy.evaluate("generation_pre_call", {"prompt": "\ud800"}).outcome == "block"


def test_let_chains_up_to_the_limit_load_and_fold():
    for reverse in (False, True):
        text = _chain(99, "{}", reverse) + "on generation_pre_call when tokens == a99 block"
        policy = guardrails.loads(text)
        assert not policy.warnings  # every let of the chain counts as used
        assert policy.evaluate("generation_pre_call", {"tokens": 1}).outcome == "block"
    lists = _chain(49, "[{}]", True) + "on generation_pre_call when len(a49) == 1 block"
    assert guardrails.loads(lists).evaluate("generation_pre_call", {}).outcome == "block"


@st.composite
def limit_probes(draw: st.DrawFn) -> str:
    """Texts around each load-time limit: big numbers, regex counts and nesting, lets."""
    digits = st.integers(1, 6000).map(lambda n: "9" * n)
    kind = draw(st.sampled_from(["int", "float", "count", "groups", "chain", "lists"]))
    if kind == "int":
        return f"on generation_pre_call when tokens > {draw(digits)} block"
    if kind == "float":
        return f"on generation_pre_call when tokens < -{draw(digits)}.5e{draw(st.integers(0, 10**7))} block"
    if kind == "count":
        low, high = draw(st.integers(0, 10**12)), draw(st.one_of(digits, st.just("")))
        return f"on generation_pre_call when prompt matches /a{{{low},{high}}}/ block"
    if kind == "groups":
        n = draw(st.integers(0, 1200))
        return f"on generation_pre_call when prompt matches /{'(' * n}a{')' * n}/ block"
    n = draw(st.integers(0, 1500))
    wrap = "{}" if kind == "chain" else draw(st.sampled_from(["[{}]", "[1, {}, [2]]"]))
    test = f"tokens == a{n}" if kind == "chain" else f"len(a{n}) > 0"
    return _chain(n, wrap, draw(st.booleans())) + f"on generation_pre_call when {test} block"


@settings(max_examples=min(EXAMPLES, 300), deadline=None, suppress_health_check=list(HealthCheck))
@given(limit_probes())
def test_texts_at_the_limits_load_or_get_diagnostics(text):
    _load_or_diagnose(text)


# ---- payloads ----


class Nasty:
    """A host object whose every protocol method fails."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __hash__(self) -> int:
        raise RuntimeError("no hash")

    def __len__(self) -> int:
        raise RuntimeError("no len")


class Deep(list):  # type: ignore[type-arg]
    """A list nested `n` levels deep, with a repr that does not recurse."""

    def __repr__(self) -> str:
        return "Deep(...)"


def _deep(n: int) -> Any:
    value: Any = "bottom"
    for _ in range(n):
        value = Deep([value])
    return value


SPECIALS = [
    math.nan, math.inf, -math.inf, "x" * 200_000, _deep(10_000), Nasty(), {1: "int key"},
    {(1, 2): "tuple key"}, b"bytes", 10**400, -0.0, True, {"nested": {"deeper": Nasty()}},
]  # fmt: skip


# drawn by index: hypothesis reprs the elements of sampled_from, and these resist that
def special(index: int) -> Any:
    return SPECIALS[index]


specials = st.integers(0, len(SPECIALS) - 1).map(special)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | specials,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

FUZZ_RULES = (
    "\n".join(RULE_TEXTS)
    + r"""
rule fz_text on tool_pre_invoke mode audit when text(tool.args) contains "x" block
rule fz_len on generation_pre_call mode audit when len(prompt) + tokens > 10 or lower(model) == "m" block
rule fz_redact on tool_post_invoke mode transform redact tool.output /a+/
rule fz_set on generation_pre_call mode transform when exists(model_options) set model_options.seen = len(model_options)
rule fz_user on tool_pre_invoke mode audit when user.role in ["a", "b"] or user == "x" warn
"""
)
POLICY = guardrails.loads(FUZZ_RULES, "fuzz.rules", time_budget_ms=None)
ROOTS = {
    hook: sorted({p.split(".")[0] for p in POLICY.catalog[hook].facts} | {"tool", "user"})
    for hook in POLICY.hooks
}


@st.composite
def hook_and_facts(draw: st.DrawFn) -> tuple[str, dict[Any, Any]]:
    hook = draw(st.sampled_from(sorted(ROOTS)))
    keys = st.sampled_from(ROOTS[hook]) | st.text(max_size=6)
    facts = draw(st.dictionaries(keys, json_like, max_size=6))
    if draw(st.booleans()):
        facts["tool"] = draw(
            st.dictionaries(st.sampled_from(["name", "args", "output"]), json_like, max_size=3)
        )
    return hook, facts


@FUZZ
@given(hook_and_facts())
def test_hostile_payloads_get_a_defined_verdict_from_evaluate(case):
    hook, facts = case
    verdict = POLICY.evaluate(hook, facts)
    assert verdict.outcome in ("allow", "block", "modify")
    for result in verdict.rules:
        assert result.verdict in (
            "pass",
            "block",
            "warn",
            "modify",
            "would_block",
            "error",
            "skipped",
        )
    verdict.to_dict()  # JSON-ready even for these payloads


MANAGER = asyncio.run(POLICY.manager())


@FUZZ
@given(hook_and_facts())
def test_hostile_payloads_get_a_defined_outcome_through_cpex(case):
    hook, facts = case

    async def call() -> str:
        try:
            result, _ = await MANAGER.invoke_hook(hook, facts, GlobalContext(request_id="fuzz"))
        except PluginError:  # a failing transform rule fails closed this way
            return "raised"
        return "allowed" if result.continue_processing else "blocked"

    assert asyncio.run(call()) in ("allowed", "blocked", "raised")
