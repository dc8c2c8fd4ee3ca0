"""What generated rule code can see, and the engine that runs it.

`EXPORTS` is the whole namespace of generated code (with `__builtins__` emptied): the
compiled rules can call these functions and nothing else. This package imports only
the standard library, so a host that only evaluates rules never loads lark.
"""

from __future__ import annotations

from typing import Any

from . import ops, text

EXPORTS: dict[str, Any] = {
    # the type guards of compile/fastpath.py (generated code has no other builtins)
    "type": type,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "dict": dict,
    "_get": ops.get,
    "_get_path": ops.get_path,
    "_eq": ops.eq,
    "_ne": ops.ne,
    "_lt": ops.lt,
    "_le": ops.le,
    "_gt": ops.gt,
    "_ge": ops.ge,
    "_is_null": ops.is_null,
    "_not_null": ops.not_null,
    "_truth": ops.truth,
    "_in": ops.in_,
    "_not_in": ops.not_in,
    "_contains": ops.contains,
    "_startswith": ops.startswith,
    "_endswith": ops.endswith,
    "_add": ops.add,
    "_sub": ops.sub,
    "_mul": ops.mul,
    "_div": ops.div,
    "_neg": ops.neg,
    "_len": ops.len_,
    "_lower": ops.lower,
    "_normalize": ops.normalize,
    "_basename": ops.basename,
    "_upper": ops.upper,
    "_trim": ops.trim,
    "_text": text.text,
    "_min": ops.min_,
    "_max": ops.max_,
    "_abs": ops.abs_,
}
