"""The code generator: complete, injection-proof, and sandboxed."""

from __future__ import annotations

import dataclasses
import typing

import pytest

import guardrails
from guardrails.check import exprs, ir
from guardrails.compile import codegen
from guardrails.syntax import ast


def _members(union: object) -> list[type]:
    return list(typing.get_args(union))


def test_every_expression_node_has_a_checker():
    for cls in _members(ast.Expr):
        assert hasattr(exprs.ExprChecker, f"check_{cls.__name__}"), cls


def test_every_ir_node_has_an_emitter():
    for cls in _members(ir.IR):
        assert hasattr(codegen.Generator, f"emit_{cls.__name__}"), cls


def test_every_builtin_has_a_runtime_function():
    from guardrails.runtime import EXPORTS
    from guardrails.runtime.facts import make_bindings

    names = set(EXPORTS) | set(make_bindings(None))
    # entries bound per load to the text cap (the detectors: check/detectors.py)
    names |= {e.export for e in exprs.BUILTINS.values() if e.bind is not None}
    for name in exprs.BUILTINS:
        if name == "exists":
            continue
        assert codegen._CALLS[name] in names, name
    for func in codegen._CALLS.values():
        assert func in names, func


def test_missing_emitter_raises_instead_of_emitting_nothing():
    @dataclasses.dataclass(frozen=True)
    class Alien:
        type: object = None

    with pytest.raises(NotImplementedError):
        codegen.Generator().emit(Alien())  # type: ignore[arg-type]


HOSTILE = [
    "'); import os; os.system('x'); ('",
    '"""',
    "\\",
    "{__import__('os')}",
    "line\nbreak",
    "\x00\x7f",
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_user_strings_cannot_inject_code(payload):
    literal = (
        '"'
        + payload.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\x00", "\\x00")
        + '"'
    )
    reason = literal.replace("{", "{{").replace("}", "}}")  # a reason's braces interpolate
    text = (
        f"rule r on tool_pre_invoke when tool.name == {literal} "
        f"block {reason} code C\n"
        f"rule t on tool_pre_invoke mode transform set tool.args.note = {literal}\n"
    )
    policy = guardrails.loads(text, "evil'\n\"file.rules")
    v = policy.evaluate("tool_pre_invoke", {"tool": {"name": payload, "args": {}}})
    assert v.outcome == "block" and v.reason == payload
    v = policy.evaluate("tool_pre_invoke", {"tool": {"name": "other", "args": {}}})
    assert v.payload["tool"]["args"]["note"] == payload


@pytest.mark.parametrize(
    ("inner", "code"),
    [
        ("__import__('os')", "GR0110"),
        ("f'{x}'", "GR0110"),
        ("tool.name.__class__", "GR0201"),
        ("c", "GR0202"),
    ],
)
def test_a_reason_interpolates_checked_fact_paths_only(inner, code):
    with pytest.raises(guardrails.RulesError) as err:
        guardrails.loads(f'on tool_pre_invoke block "x {{{inner}}} y"\n')
    assert [d.code for d in err.value.diagnostics] == [code]


def test_a_dunder_in_a_reason_path_is_a_map_key_not_an_attribute():
    policy = guardrails.loads('on tool_pre_invoke block "x {tool.args.__dict__} y"\n')
    v = policy.evaluate("tool_pre_invoke", {"tool": {"name": "t", "args": {"a": 1}}})
    assert v.reason == "x null y"


def test_generated_code_has_no_builtins():
    policy = guardrails.loads("on generation_pre_call when tokens > 1 block")
    fn = policy.programs("generation_pre_call")[0].fn
    assert fn.__globals__["__builtins__"] == {}
    assert not {"__import__", "getattr", "eval", "exec", "open"} & set(fn.__globals__)
    assert "import" not in policy.generated_source


def test_rule_functions_are_named_by_allocator_not_by_rule_name():
    policy = guardrails.loads("rule __import__ on generation_pre_call block")
    assert "def _p0(f, c):" in policy.generated_source
    assert "def __import__" not in policy.generated_source
    assert policy.programs("generation_pre_call")[0].fn.__name__ == "_r0"


def test_rules_differing_only_in_literals_share_one_function_and_keep_their_literals():
    """One shape compiled once, each rule bound to its own literals: literals that
    Python finds equal but we do not (0.0 and -0.0, 1 and True, "1" and 1) stay apart."""
    text = (
        'rule a on tool_pre_invoke when tool.name == "it\'s" and tool.args.n == 1 block "A"\n'
        'rule b on tool_pre_invoke when tool.name == "x\\"y" and tool.args.n == 2 block "B"\n'
        'rule c on tool_pre_invoke when tool.name == "z" and tool.args.n == -0.0 block "C"\n'
        'rule d on tool_pre_invoke when tool.name == "w" and tool.args.n == true block "D"\n'
    )
    policy = guardrails.loads(text)
    source = policy.generated_source
    assert source.count("def _p") == 2  # a number's test is one shape; a bool's another
    fns = {p.id: p.fn for p in policy.programs("tool_pre_invoke")}
    assert fns["a"].__code__ is fns["b"].__code__ is fns["c"].__code__
    for name, n, fires in [
        ("it's", 1, "a"), ('x"y', 2, "b"), ("z", 0.0, "c"), ("w", True, "d"),
        ("it's", 2, None), ('x"y', 1, None), ("w", 1, None),
    ]:  # fmt: skip
        verdict = policy.evaluate("tool_pre_invoke", {"tool": {"name": name, "args": {"n": n}}})
        assert verdict.reason == (fires.upper() if fires else None), (name, n)


def test_traceback_shows_generated_source_via_linecache():
    import linecache

    policy = guardrails.loads("rule r on generation_pre_call when tokens > 1 block")
    fn = policy.programs("generation_pre_call")[0].fn
    filename = fn.__code__.co_filename
    assert filename.startswith("<guardrails:")
    assert "def _p0" in "".join(linecache.getlines(filename))


def test_constants_are_folded_from_lets():
    policy = guardrails.loads(
        "let big = 4000\nlet names = ['a', 'b']\n"
        "on tool_pre_invoke when tool.name in names and len(tool.name) < big block\n"
    )
    assert "big" not in policy.generated_source
    assert "4000" in policy.generated_source
