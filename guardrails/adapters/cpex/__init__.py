"""The cpex host: plugins in a manager, the YAML plugin kind, `serve`, config checks.

Importing this package imports nothing of cpex; its modules do. The names users
reached as `guardrails.adapters.cpex.X` before the binding became a package of its
own (`decisions`, `hook_policies`, `RulesPlugin`, ...) still resolve here, on first
use, from `binding`.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = frozenset(
    {
        "METADATA_PREFIX", "STALE_CODE", "PluginSet", "RuleFailure", "RulesPlugin",
        "build_plugins", "decisions", "global_context", "hook_policies", "http_status",
    }
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(".binding", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
