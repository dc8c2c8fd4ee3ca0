"""The inlined fast paths decide exactly like the runtime functions they shortcut."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import guardrails
from guardrails.runtime import ops

CATALOG = guardrails.Catalog.builtin()
CATALOG.register_hook("fp_probe", fields={"a": "any", "s": "str", "n": "float"})

OPS = {
    "<": ops.lt, "<=": ops.le, ">": ops.gt, ">=": ops.ge, "==": ops.eq, "!=": ops.ne,
    "startswith": ops.startswith, "endswith": ops.endswith, "contains": ops.contains,
}  # fmt: skip
CONSTS = [3, 2.5, -1, "ab", ""]

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


def _policies() -> dict[tuple[str, object, bool], guardrails.Policy]:
    out = {}
    for op in OPS:
        for const in CONSTS:
            if op in ("startswith", "endswith", "contains") and not isinstance(const, str):
                continue
            lit = repr(const) if isinstance(const, str) else str(const)
            out[(op, const, False)] = guardrails.loads(
                f"rule r on fp_probe when a {op} {lit} block", catalog=CATALOG
            )
            if op in ("<", "<=", ">", ">=", "==", "!="):
                out[(op, const, True)] = guardrails.loads(
                    f"rule r on fp_probe when {lit} {op} a block", catalog=CATALOG
                )
    return out


POLICIES = _policies()
LISTS = {
    "in": guardrails.loads("rule r on fp_probe when a in ['x', 'yz', ''] block", catalog=CATALOG),
    "not in": guardrails.loads(
        "rule r on fp_probe when a not in ['x', 'yz', ''] block", catalog=CATALOG
    ),
}


def _expected(fn, *args) -> str:
    try:
        return "block" if fn(*args) else "pass"
    except ops.RuleTypeError:
        return "error"


@settings(max_examples=300, deadline=None)
@given(values)
def test_comparisons_with_constants(value):
    for (op, const, flipped), policy in POLICIES.items():
        got = policy.evaluate("fp_probe", {"a": value}).rule("r").verdict
        args = (const, value) if flipped else (value, const)
        assert got == _expected(OPS[op], *args), (op, const, flipped, value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_membership_in_constant_lists(value):
    table = ("x", "yz", "")
    assert LISTS["in"].evaluate("fp_probe", {"a": value}).rule("r").verdict == _expected(
        ops.in_, value, table
    )
    assert LISTS["not in"].evaluate("fp_probe", {"a": value}).rule("r").verdict == _expected(
        ops.not_in, value, table
    )


def test_edge_values_explicitly():
    policy = POLICIES[(">", 3, False)]
    for value, verdict in [(4, "block"), (3, "pass"), (math.inf, "error"), (math.nan, "error"),
                           (True, "error"), (None, "pass"), ("4", "error"), (4.5, "block")]:  # fmt: skip
        assert policy.evaluate("fp_probe", {"a": value}).rule("r").verdict == verdict, value
    eq = POLICIES[("==", 3, False)]
    assert (
        eq.evaluate("fp_probe", {"a": True}).rule("r").verdict == "pass"
    )  # true is not 3... nor 1
    assert eq.evaluate("fp_probe", {"a": 3.0}).rule("r").verdict == "block"
