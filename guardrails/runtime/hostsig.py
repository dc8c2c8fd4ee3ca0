"""A host function's signature from its Python annotations, and `load(functions=...)`.

`notation` maps an annotation to the rules' type (the catalog's notation); anything
the rules have no type for is a `HostFunctionSpecError` when the function is marked or
loaded, naming the function and the parameter, never at a call.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Union

from .hostfn import DEFAULT_TIMEOUT_MS, Answer, HostFunction, HostFunctionSpecError, Param

_SCALARS = {int: "int", float: "float", str: "str", bool: "bool"}


def notation(annotation: Any, where: str) -> tuple[str, bool]:
    """(the rules' type, takes null) of a Python annotation; raises for one the rules
    have no type for."""
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    if annotation is Any or annotation is object:
        return "any", False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return notation(rest[0], where)[0], True
        raise HostFunctionSpecError(
            f"{where}: {annotation} is a union the rules cannot type; use one type, "
            "`X | None`, or Any"
        )
    if origin is Answer:
        return notation(args[0], where) if args else ("any", False)
    if annotation in (list, tuple, cabc.Sequence) or origin in (list, tuple, cabc.Sequence):
        if not args or (origin is tuple and (len(args) != 2 or args[1] is not Ellipsis)):
            return ("list", False) if not args else _tuple(annotation, where)
        elem, nullable = notation(args[0], where)
        return f"list[{elem}]" if not nullable and elem != "any" else "list", False
    if annotation in (dict, cabc.Mapping) or origin in (dict, cabc.Mapping):
        return "map", False
    raise HostFunctionSpecError(
        f"{where}: the rules have no type for {getattr(annotation, '__name__', annotation)}; "
        "use int, float, str, bool, list[X], dict, X | None or Any"
    )


def _tuple(annotation: Any, where: str) -> tuple[str, bool]:
    raise HostFunctionSpecError(f"{where}: {annotation}: use list[X] or tuple[X, ...]")


def from_callable(
    fn: Callable[..., Any],
    name: str | None = None,
    timeout_ms: float | None = None,
    inline: bool = False,
) -> HostFunction:
    """A host function from a Python function and its annotations."""
    name = str(name or getattr(fn, "__name__", ""))
    if not name.isidentifier() or name.startswith("_"):
        raise HostFunctionSpecError(
            f"host function name {name!r}: use a plain identifier (letters, digits, _) "
            "that does not start with _"
        )
    if timeout_ms is not None and not (timeout_ms > 0 and math.isfinite(timeout_ms)):
        raise HostFunctionSpecError(f"host function {name!r}: timeout_ms must be > 0")
    plain = inspect.isfunction(fn) or inspect.ismethod(fn)
    try:
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn if plain else type(fn).__call__)
    except (TypeError, ValueError, NameError) as err:
        raise HostFunctionSpecError(
            f"host function {name!r}: cannot read its signature: {err}"
        ) from None
    params = []
    for p in sig.parameters.values():
        where = f"host function {name!r}, parameter {p.name!r}"
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY):
            if p.default is not p.empty and p.kind == p.KEYWORD_ONLY:
                continue  # a keyword-only option the rules never pass
            raise HostFunctionSpecError(f"{where}: rules pass positional arguments only")
        if p.name not in hints:
            raise HostFunctionSpecError(f"{where} has no type annotation; annotate it")
        kind, nullable = notation(hints[p.name], where)
        params.append(Param(p.name, kind, nullable, p.default is p.empty))
    if "return" not in hints:
        raise HostFunctionSpecError(
            f"host function {name!r} has no return annotation; annotate it (e.g. -> bool)"
        )
    result, result_nullable = notation(hints["return"], f"host function {name!r}, its result")
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004
    )
    if inline and (is_async or timeout_ms is not None):
        raise HostFunctionSpecError(
            f"host function {name!r}: inline runs a sync function with no timeout of its own"
        )
    return HostFunction(
        name, tuple(params), result, result_nullable,
        sync=None if is_async else fn, async_=fn if is_async else None,
        timeout_ms=timeout_ms if timeout_ms is not None else DEFAULT_TIMEOUT_MS,
        doc=inspect.getdoc(fn) or "", inline=inline,
    )  # fmt: skip


def function(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    timeout_ms: float | None = None,
    inline: bool = False,
) -> Any:
    """`@guardrails.function` or `@guardrails.function(name=..., timeout_ms=...)`: marks
    `fn` as a host function (its signature is read, and checked, here). The function
    is returned unchanged, so Python code calls it as before; pass it to
    `load(functions=[fn])`. `inline=True`: it runs in the rule's thread, with no
    timeout of its own (for fast functions that cannot hang)."""

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        spec = from_callable(target, name, timeout_ms, inline)
        try:
            target.__guardrails_function__ = spec  # type: ignore[attr-defined]
        except AttributeError:  # a bound method, a builtin: pass it by name instead
            raise HostFunctionSpecError(
                f"cannot mark {spec.name!r}; pass it as functions={{{spec.name!r}: fn}}"
            ) from None
        return target

    return mark(fn) if fn is not None else mark


def as_host_functions(given: object) -> list[HostFunction]:
    """`load(functions=...)`: a mapping name -> callable, or callables (marked by
    `@guardrails.function` or not), or HostFunctions."""
    if given is None:
        return []
    if isinstance(given, str | bytes):
        raise HostFunctionSpecError(
            "functions= takes functions, a list of them or a mapping name -> function"
        )
    if isinstance(given, Mapping):
        items: list[tuple[str | None, Any]] = list(given.items())
    elif callable(given) or isinstance(given, HostFunction):
        items = [(None, given)]
    else:
        items = [(None, fn) for fn in given]  # type: ignore[attr-defined]
    out = []
    for name, fn in items:
        if isinstance(fn, HostFunction):
            out.append(fn)
            continue
        if not callable(fn):
            raise HostFunctionSpecError(f"host function {name!r}: {fn!r} is not callable")
        marked = getattr(fn, "__guardrails_function__", None)
        if isinstance(marked, HostFunction):
            same = name is None or name == marked.name
            timeout = None if marked.inline else marked.timeout_ms
            out.append(marked if same else from_callable(fn, name, timeout, marked.inline))
        else:
            out.append(from_callable(fn, name))
    return out
