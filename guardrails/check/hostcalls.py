"""Typing a call to a host function (`load(functions=...)`, `load(judge=...)`).

A host function is typed exactly like a built-in with a plain signature: its arity,
each argument against its parameter (GR0212 at the argument), its result type. Its
signature comes from the function's annotations (`runtime/hostfn.py`), in the
catalog's notation. The IR is an `Op` named `host:NAME`, so every walk over the IR
(the facts a rule reads, lints, explain) sees its arguments as it sees a built-in's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic, Severity
from ..runtime.hostfn import PREFIX, HostFunction
from ..syntax import ast
from .ir import IR, Const, Op
from .signatures import _ARTICLE
from .types import ANY, Type, assignable, parse_type

if TYPE_CHECKING:
    from .exprs import ExprChecker

# what the rules call the judge's functions, for the hint when no judge was given
PACKS = {
    "judge": "the LLM judge: load the rules with judge=<a Mellea backend or session, a "
    "Haystack chat generator or a callable> (on the command line: --judge)",
    "judge_score": "the LLM judge: load the rules with judge=... (on the command line: --judge)",
}
HOST_HINT = (
    "a host function is given at load: guardrails.load(..., functions=[fn]) "
    "(on the command line: --functions module:attr)"
)


def is_host(op: str) -> bool:
    return op.startswith(PREFIX)


def host_name(op: str) -> str:
    return op[len(PREFIX) :]


def check_host_call(c: ExprChecker, fn: HostFunction, node: ast.Call, no_host: str | None) -> IR:
    args = tuple(c.check(a) for a in node.args)
    if no_host is not None:
        c.error(
            "GR0265",
            f"{no_host} cannot call host function {fn.name}()",
            node.span,
            hint="state is worked out from the call's facts before any rule runs, with no "
            "time budget for host functions; call it in a rule of its own",
        )
        return Const(None, ANY)
    low, high = fn.arity
    if not low <= len(args) <= high:
        want = str(low) if low == high else f"{low}-{high}"
        c.error(
            "GR0204",
            f"{fn.name}() takes {want} argument{'s' if want != '1' else ''}, got {len(args)}",
            node.span,
            hint=fn.signature(),
        )
        return Const(None, ANY)
    for arg, param, operand in zip(args, fn.params, node.args, strict=False):
        want_type = parse_type(param.type)
        if not assignable(arg.type, want_type):
            wanted = _ARTICLE.get(want_type, str(want_type))
            c.error(
                "GR0212",
                f"{fn.name}() needs {wanted} for {param.name}, found {arg.type}",
                operand.span,
                hint=fn.signature(),
            )
    if fn.missing is not None:
        c.diags.append(
            Diagnostic(
                "GR0321",
                Severity.WARNING,
                f"{fn.name}() has nothing to run on: every call is an error (fail closed)",
                node.func.span,
                hint=fn.missing + " (guardrails check: --judge)",
            )
        )
    return Op(PREFIX + fn.name, args, result_type(fn))


def result_type(fn: HostFunction) -> Type:
    return parse_type(fn.result)


def collisions(functions: Mapping[str, HostFunction], builtins: Mapping[str, object]) -> list[str]:
    """Names of host functions that a built-in already has."""
    return sorted(name for name in functions if name in builtins)
