"""What generated rule code can see, and the engine that runs it.

`EXPORTS` is the whole namespace of generated code (with `__builtins__` emptied): the
compiled rules can call these functions and nothing else. The names here are the
ones codegen writes for itself (type guards, path access); every operator and
built-in function is added by `check/builtins.py` when it registers the entry, so
one table names each of them once. That registry lives above `runtime/` because its
signatures are the checker's, and this package imports only the standard library,
so a host that only evaluates rules never loads lark.
"""

from __future__ import annotations

from typing import Any

from . import ops, quantifiers

EXPORTS: dict[str, Any] = {
    # the type guards of compile/fastpath.py (generated code has no other builtins)
    "type": type,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "dict": dict,
    "tuple": tuple,  # a compiled `filter` returns one
    "_get_path": ops.get_path,
    "_each": quantifiers.each,  # the list a compiled quantifier loops over
}
