"""Payload capture for rollout tools: the facts of a hook call, masked for the log.

Recorded traffic is what `guardrails replay` re-evaluates, but prompts and outputs
carry user data. By default the text facts (`prompt`, `output`, `tool.output`) are
replaced by a hash and a length, so a log shows *that* and *how much* without
*what*; rules that read a masked fact cannot be replayed on that call, and replay
says so. Other paths can be masked or dropped by configuration.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MASK_KEY = "__masked__"
DEFAULT_MASK = ("prompt", "output", "tool.output")
_MAX_DEPTH = 50


@dataclass(frozen=True)
class Capture:
    """What call records keep of the facts.

    `mask`: dotted fact paths replaced by {"__masked__": "sha256:...", "length": n};
    `drop`: paths left out entirely; `facts=False`: call records without facts (enough
    for counting evaluations in `guardrails report`).
    """

    mask: tuple[str, ...] = DEFAULT_MASK
    drop: tuple[str, ...] = ()
    facts: bool = True


def masked(value: Any) -> dict[str, Any]:
    text = value if isinstance(value, str) else _canonical(value)
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return {MASK_KEY: f"sha256:{digest}", "length": len(text)}


def is_masked(value: Any) -> bool:
    return isinstance(value, Mapping) and MASK_KEY in value


def _canonical(value: Any) -> str:
    try:
        return json.dumps(plain(value), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"


def plain(value: Any, depth: int = 0) -> Any:
    """JSON-ready copy of a facts value (exotic objects become their type name)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            out[k if isinstance(k, str) else f"<{type(k).__name__}>"] = plain(v, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    return f"<{type(value).__name__}>"


def mask_facts(facts: Mapping[str, Any], capture: Capture) -> dict[str, Any] | None:
    if not capture.facts:
        return None
    out: dict[str, Any] = plain(facts)
    for path in capture.drop:
        _apply(out, path.split("."), None, drop=True)
    for path in capture.mask:
        _apply(out, path.split("."), masked, drop=False)
    return out


def _apply(tree: dict[str, Any], keys: list[str], fn: Any, drop: bool) -> None:
    node: Any = tree
    for key in keys[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict) and keys[-1] in node:
        if drop:
            del node[keys[-1]]
        elif node[keys[-1]] is not None:
            node[keys[-1]] = fn(node[keys[-1]])
