"""Run-time semantics of every operator, including null and type-mismatch behaviour."""

from __future__ import annotations

import math

import pytest

import guardrails

CATALOG = guardrails.Catalog.builtin()
CATALOG.register_hook(
    "probe",
    fields={
        "a": "any",
        "b": "any",
        "n": "int",
        "x": "float",
        "s": "str",
        "xs": "list",
        "m": "map",
        "flag": "bool",
    },
    writable=["m", "s", "a"],
)


def verdict_of(condition: str, facts: dict, lets: str = "") -> str:
    policy = guardrails.loads(
        f"{lets}\nrule r on probe when {condition} block", "s.rules", catalog=CATALOG
    )
    return policy.evaluate("probe", facts).rule("r").verdict


def fires(condition: str, facts: dict, lets: str = "") -> bool:
    result = verdict_of(condition, facts, lets)
    assert result in ("block", "pass"), f"{condition} on {facts}: {result}"
    return result == "block"


@pytest.mark.parametrize(
    ("condition", "facts", "expected"),
    [
        ("n > 3", {"n": 4}, True),
        ("n > 3", {"n": 3}, False),
        ("n >= 3", {"n": 3}, True),
        ("n < 3", {"n": 2}, True),
        ("n <= 3", {"n": 4}, False),
        ("n == 3", {"n": 3}, True),
        ("n == 3.0", {"n": 3}, True),
        ("n != 3", {"n": 4}, True),
        ("n != 3", {"n": 3}, False),
        ("s > 'abc'", {"s": "abd"}, True),
        ("s == 'x'", {"s": "x"}, True),
        ("s in ['x', 'y']", {"s": "y"}, True),
        ("s not in ['x', 'y']", {"s": "z"}, True),
        ("s not in ['x', 'y']", {"s": "x"}, False),
        ("'ell' in s", {"s": "hello"}, True),
        ("s contains 'ell'", {"s": "hello"}, True),
        ("xs contains 2", {"xs": [1, 2]}, True),
        ("xs contains 3", {"xs": [1, 2]}, False),
        ("'k' in m", {"m": {"k": 1}}, True),
        ("s startswith 'he'", {"s": "hello"}, True),
        ("s endswith 'lo'", {"s": "hello"}, True),
        ("s endswith 'he'", {"s": "hello"}, False),
        ("s matches /L+/i", {"s": "hello"}, True),
        ("s matches [/zz/, /^h/]", {"s": "hello"}, True),
        ("s matches [/zz/, /yy/]", {"s": "hello"}, False),
        ("s matches 'l{2}'", {"s": "hello"}, True),
        ("n + 1 == 4", {"n": 3}, True),
        ("n - 1 == 2", {"n": 3}, True),
        ("n * 2 == 6", {"n": 3}, True),
        ("n / 2 == 1.5", {"n": 3}, True),
        ("-n == -3", {"n": 3}, True),
        ("s + '!' == 'hi!'", {"s": "hi"}, True),
        ("n > 1 and n < 5", {"n": 3}, True),
        ("n > 1 and n > 5", {"n": 3}, False),
        ("n > 5 or n < 5", {"n": 3}, True),
        ("not n > 5", {"n": 3}, True),
        ("not (n > 1 and n < 5)", {"n": 3}, False),
        ("n > 1 or n > 2 and n > 5", {"n": 3}, True),  # and binds tighter than or
        ("len(s) == 5", {"s": "hello"}, True),
        ("len(xs) == 2", {"xs": [1, 2]}, True),
        ("lower(s) == 'hi'", {"s": "HI"}, True),
        ("upper(s) == 'HI'", {"s": "hi"}, True),
        ("trim(s) == 'hi'", {"s": "  hi "}, True),
        ("min(n, 2) == 2", {"n": 3}, True),
        ("max(xs) == 9", {"xs": [1, 9, 3]}, True),
        ("abs(n) == 3", {"n": -3}, True),
        ("tokens(s) == 3", {"s": "x" * 9}, True),  # ceil(9 / 4)
        ("exists(m.k)", {"m": {"k": 0}}, True),
        ("exists(m.k)", {"m": {}}, False),
        ("text(m) contains '\"k\": 1'", {"m": {"k": 1}}, True),
        ("m.k.z[1] == 'b'", {"m": {"k": {"z": ["a", "b"]}}}, True),
        ("m['odd key'] == 1", {"m": {"odd key": 1}}, True),
        ("xs[-1] == 2", {"xs": [1, 2]}, True),
        ("flag", {"flag": True}, True),
        ("flag", {"flag": False}, False),
        ("n in small", {"n": 2}, True),
        ("s matches pats", {"s": "abc"}, True),
        ("s == greeting", {"s": "hi"}, True),
    ],
)
def test_operator(condition, facts, expected):
    lets = "let small = [1, 2, 3]\nlet pats = [/zz/, 'b']\nlet hello = 'hi'\nlet greeting = hello"
    assert fires(condition, facts, lets) is expected


@pytest.mark.parametrize(
    "condition",
    [
        "n > 3",
        "n < 3",
        "n == 3",
        "s in ['x']",
        "s contains 'x'",
        "s startswith 'x'",
        "s matches /x/",
        "n + 1 > 0",
        "len(s) >= 0",
        "flag",
        "m.k == 1",
        "a == b",
    ],
)
def test_null_makes_comparisons_false(condition):
    assert fires(condition, {}) is False


@pytest.mark.parametrize("condition", ["n != 3", "s not in ['x']", "not (n == 3)", "a != b"])
def test_negated_tests_are_true_on_null_so_allow_lists_fail_closed(condition):
    assert fires(condition, {}) is True


def test_a_negated_test_is_exactly_the_negation_of_its_positive_test():
    for facts in ({}, {"n": 3}, {"n": 4}, {"n": None}):
        assert fires("n != 3", facts) is (not fires("n == 3", facts))
        assert fires("n not in [3]", facts) is (not fires("n in [3]", facts))


def test_explicit_null_tests():
    assert fires("n == null", {}) is True
    assert fires("n != null", {}) is False
    assert fires("n == null", {"n": 0}) is False
    assert fires("not exists(n)", {}) is True
    assert fires("null == n", {}) is True


def test_unless_with_null_fact_still_fires():
    policy = guardrails.loads(
        "rule r on probe when s == 'x' unless m.role == 'admin' block", "u.rules", catalog=CATALOG
    )
    assert policy.evaluate("probe", {"s": "x"}).outcome == "block"
    assert policy.evaluate("probe", {"s": "x", "m": {"role": "admin"}}).outcome == "allow"


def test_booleans_are_not_numbers():
    assert fires("a == 1", {"a": True}) is False
    assert fires("a == true", {"a": 1}) is False
    assert fires("a == true", {"a": True}) is True
    assert verdict_of("a < 2", {"a": True}) == "error"


@pytest.mark.parametrize(
    ("condition", "facts"),
    [
        ("a > 3", {"a": "many"}),
        ("a < b", {"a": [1], "b": [2]}),
        ("a contains 'x'", {"a": 5}),
        ("a matches /x/", {"a": 5}),
        ("a startswith 'x'", {"a": 5}),
        ("a + 1 > 0", {"a": "x"}),
        ("a / b > 0", {"a": 1, "b": 0}),
        ("len(a) > 0", {"a": 5}),
        ("lower(a) == 'x'", {"a": 5}),
        ("a", {"a": "yes"}),
        ("max(a) > 0", {"a": ["x"]}),
        ("tokens(a) > 0", {"a": 5}),
    ],
)
def test_runtime_type_errors_are_error_verdicts(condition, facts):
    policy = guardrails.loads(f"rule r on probe when {condition} block", "e.rules", catalog=CATALOG)
    verdict = policy.evaluate("probe", facts)
    result = verdict.rule("r")
    assert result.verdict == "error"
    assert result.error
    # fail closed: the sequential blocking rule's error blocks the call
    assert verdict.outcome == "block"
    assert verdict.blocked_by == "r"
    assert verdict.code == "GUARDRAIL_ERROR"


def test_error_messages_do_not_leak_payload_values():
    secret = "sk-very-secret-value"
    policy = guardrails.loads("rule r on probe when a > 3 block", "e.rules", catalog=CATALOG)
    verdict = policy.evaluate("probe", {"a": secret})
    assert verdict.rule("r").verdict == "error"
    assert secret not in str(verdict.to_dict()["rules"])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    "condition",
    [
        "x > 1.0",
        "x < 1.0",
        "x == 1.0",
        "x != 1",
        "x in [1, 2]",
        "x + 1 > 0",
        "abs(x) > 0",
        "max(x, 1) > 0",
    ],
)
def test_nan_and_infinity_are_type_errors(condition, value):
    assert verdict_of(condition, {"x": value}) == "error"


def test_host_object_with_broken_eq_is_not_equal():
    class Weird:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    assert fires("a == b", {"a": Weird(), "b": Weird()}) is False


def test_deep_path_through_wrong_containers_is_null():
    assert fires("m.k.z == 1", {"m": {"k": "a string"}}) is False
    assert fires("xs[5] == 1", {"xs": [1]}) is False


def test_a_list_fact_equals_a_list_literal_item_by_item():
    """A list literal compiles to a tuple; the payload's list must still equal it
    (a `when tags == ["rm"] block` that never fired would let the call through)."""
    p = guardrails.loads(
        'rule r on tool_pre_invoke when tool.args.tags == ["a", [1, 2], null] block'
    )

    def outcome(tags: object) -> str:
        return p.evaluate("tool_pre_invoke", {"tool": {"args": {"tags": tags}}}).outcome

    assert outcome(["a", [1, 2], None]) == "block"
    assert outcome(("a", (1, 2.0), None)) == "block"
    assert outcome(["a", [1, 3], None]) == "allow"
    assert outcome(["a", [True, 2], None]) == "allow"  # true is not 1
    assert outcome(["a", [1, 2]]) == "allow"
