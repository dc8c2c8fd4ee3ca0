"""`--functions MODULE:ATTR` and `--judge` on the command line: the host functions
rules may call, where no Python program is there to pass `load(functions=...)`.

ATTR may be a mapping (name -> callable), a list of functions, one function, or left
out (`--functions mymod`): then every function of the module marked with
`@guardrails.function`. `--judge` declares the judge's functions with no model
behind them: enough to check rules; evaluating one fails closed (an `error`).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..diagnostics import GuardrailsError


def import_functions(specs: Sequence[str]) -> list[Any] | None:
    """The callables named by `--functions` specs (None when none are given)."""
    if not specs:
        return None
    found: list[Any] = []
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # `--functions myfuncs:checks` from the project's root
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise GuardrailsError(
                f"--functions {spec}: cannot import {module_name}: {err}"
            ) from None
        if not attr:
            marked = [
                fn for _, fn in inspect.getmembers(module, callable)
                if hasattr(fn, "__guardrails_function__")
            ]  # fmt: skip
            if not marked:
                raise GuardrailsError(
                    f"--functions {spec}: {module_name} has no @guardrails.function; "
                    "name the functions with MODULE:ATTR"
                )
            found.extend(marked)
            continue
        try:
            value = getattr(module, attr)
        except AttributeError:
            raise GuardrailsError(f"--functions {spec}: {module_name} has no {attr!r}") from None
        if isinstance(value, dict) or callable(value):
            found.append(value)
        else:
            found.extend(value)
    return found


def merged(found: list[Any] | None) -> Any:
    """One `functions=` value from what `import_functions` found."""
    if found is None:
        return None
    functions: list[Any] = []
    for item in found:
        if isinstance(item, dict):
            from ..runtime.hostsig import as_host_functions

            functions.extend(as_host_functions(item))
        else:
            functions.append(item)
    return functions


def no_model(prompt: str) -> str:
    """The judge of `--judge`: checking needs its signatures only."""
    raise RuntimeError("no judge model on the command line (--judge declares its functions only)")


def host_options(functions: Sequence[str], judge: bool) -> dict[str, Any]:
    """`load`/`check` keywords from the command line's `--functions` and `--judge`."""
    return {"functions": merged(import_functions(functions)), "judge": no_model if judge else None}
