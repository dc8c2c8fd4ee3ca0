"""A rule's `set` and `redact` applied to a call's facts, copy-on-write: the facts a
host passed in are never mutated, and only what actually changed is reported."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .ops import RuleTypeError, get_path, type_name
from .program import Assign, Redact, RuleProgram
from .text import Found, Rewrite, merge, merged_spans, redact


def apply_actions(
    prog: RuleProgram, facts: dict[str, Any], values: tuple[Any, ...]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Apply a rule's set/redact actions copy-on-write; the input dict is never mutated.

    Only actions that changed something are reported: a redaction that found nothing
    (or a missing fact), or a `set` to the value already there, is no change."""
    changes: list[str] = []
    for action in prog.actions:
        if not isinstance(action, Assign | Redact):
            continue
        current = get_path(facts, action.path)
        if isinstance(action, Assign):
            new = values[action.value_index]
        else:
            new = redact(current, _finder(action), _rewriter(action), action.max_chars)
        if _same(current, new):
            continue
        facts = assign(facts, action.path, new)
        changes.append(".".join(str(k) for k in action.path))
    return facts, tuple(changes)


def _finder(action: Redact) -> Callable[[str], list[Found]]:
    detector = action.finder
    if detector is None:
        return lambda text: merged_spans(text, action.patterns)
    return lambda text: merge([(f.start, f.end, str(f)) for f in detector(text)])


def _rewriter(action: Redact) -> Rewrite:
    """`with mask` keeps the length, `with hash` a stable digest (the same value always
    gives the same text, so redacted records can still be joined); otherwise the
    rule's text, or `[TYPE]` for a detector's finding."""
    if action.operator == "mask":
        return lambda label, matched: "*" * len(matched)
    if action.operator == "hash":
        return lambda label, matched: (
            f"[{label or 'REDACTED'}:{hashlib.sha256(matched.encode()).hexdigest()[:12]}]"
        )
    fixed = action.replacement
    if fixed is not None:
        return lambda label, matched: fixed
    return lambda label, matched: f"[{label or 'REDACTED'}]"


def _same(old: Any, new: Any) -> bool:
    if old is new:
        return True
    if type(old) is not type(new) or type(old) not in (str, int, float, bool):
        return False
    return bool(old == new)


def assign(root: dict[str, Any], path: Sequence[str | int], value: Any) -> dict[str, Any]:
    """A copy of `root` with `value` at `path`; missing maps on the way are created."""
    new_root = dict(root)
    parent: Any = new_root
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(parent, dict):
            if last:
                parent[key] = value
                break
            child = parent.get(key)
        elif isinstance(parent, list) and isinstance(key, int):
            if not -len(parent) <= key < len(parent):
                raise RuleTypeError(f"index {key} is out of range for a list of {len(parent)}")
            if last:
                parent[key] = value
                break
            child = parent[key]
        else:
            raise RuleTypeError(f"cannot set a field inside a {type_name(parent)}")
        if isinstance(child, Mapping):
            child = dict(child)
        elif isinstance(child, list | tuple):
            child = list(child)
        elif child is None:
            child = {}
        else:
            raise RuleTypeError(f"cannot set a field inside a {type_name(child)}")
        parent[key] = child
        parent = child
    return new_root
