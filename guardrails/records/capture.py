"""Payload capture for rollout tools: the facts of a hook call, masked for the log.

Recorded traffic is what `guardrails replay` re-evaluates, but prompts and outputs
carry user data. By default the facts that carry conversation text (`prompt`,
`output`, `tool.output`, `messages`, `system_prompt`, `last_message.text`, and a
fetched prompt's `result` or resource's `content`) are replaced by a hash and a
length, so a log shows *that* and *how much* without *what*. Other paths can be
masked or dropped by configuration; tool arguments are kept, as rules about tools
read them and a deployment that puts secrets there masks `tool.args` itself.

What the rules derive from a masked fact is kept beside it: a call record holds the
derived facts its hook's rules read (`tokens`, worked out from `prompt` with the
policy's tokenizer before masking), so a token budget replays on a log that never
held a prompt. A rule that reads the masked text itself cannot be replayed on that
call, and replay says which rule and which fact.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..runtime.facts import DERIVED, Derivation, Tokenizer, make_bindings
from ..runtime.reasons import Reason

MASK_KEY = "__masked__"
# the payload fields of the hosts (Mellea's, by their own names) that hold the same text
# as a masked fact (`tool_output` is what `tool.output` reads, `action` the prompt) or
# the conversation itself: a rule may read them by name, and then they are facts too
HOST_TEXT_FIELDS = (
    "action", "actions", "model_output", "model_outputs", "tool_output", "tool_message",
    "context", "context_view", "context_before", "context_after", "previous_context",
    "final_action", "final_context", "final_result", "failed_action", "failed_result",
    "repair_action", "repair_context", "results", "all_results", "sampling_results",
    "generate_log",
)  # fmt: skip
DEFAULT_MASK = (
    "prompt", "output", "tool.output", "messages", "system_prompt", "last_message.text",
    "result", "content", *HOST_TEXT_FIELDS,
)  # fmt: skip
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


def plain(value: Any, depth: int = 0, private: tuple[tuple[str, ...], ...] | None = None) -> Any:
    """JSON-ready copy of a facts value (exotic objects become their type name). With
    `private`, a rule's reason that came back as a fact (Haystack's `exit_reason` is
    the block's reason) is copied as the decision log writes it, not as the caller
    was told it."""
    if value is None or isinstance(value, bool | int | str):
        if private is not None and isinstance(value, Reason):
            return str(logged_reason(value, private))
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = k if isinstance(k, str) else f"<{type(k).__name__}>"
            out[key] = plain(v, depth + 1, private)
        return out
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1, private) for v in value]
    return f"<{type(value).__name__}>"


def private_paths(capture: Capture | None) -> tuple[tuple[str, ...], ...]:
    """The fact paths a decision log must not show the text of: what the capture masks
    or drops, the default mask without one (a log keeps no conversation text unless
    the policy says so: `Capture(mask=())`)."""
    chosen = capture or Capture()
    return tuple(tuple(p.split(".")) for p in (*chosen.mask, *chosen.drop))


def logged_reason(reason: str, private: tuple[tuple[str, ...], ...]) -> str:
    """`reason` as a decision log writes it: a `{fact}` part that read a private path
    (or a fact a `set` may have filled from one: compile/provenance.py) shows as
    written (`{prompt}`) instead of its value; the caller got the value. An error's
    quoted text (runtime/quoting.py) is withheld the same way."""
    pieces = getattr(reason, "pieces", None)
    if pieces is None or not private:
        return reason
    out = list(pieces)
    hidden = False
    slots = reason.slots  # type: ignore[attr-defined]
    for i, (paths, hit) in enumerate(zip(slots, _hits(slots, private), strict=True)):
        if hit is not None:
            # a reason's part is one fact path, written so; an error names what it hit
            shown = hit if hasattr(reason, "withheld") else paths[0]
            out[2 * i + 1] = getattr(reason, "withheld", "{{{}}}").format(_written(shown))
            hidden = True
    return "".join(out) if hidden else str(reason)


@functools.lru_cache(maxsize=4096)
def _hits(
    slots: tuple[tuple[tuple[object, ...], ...], ...], private: tuple[tuple[str, ...], ...]
) -> tuple[tuple[object, ...] | None, ...]:
    """Per part, the first path it read that is private (None: none is). A rule's
    parts are a literal of its compiled code, so this is worked out once per rule
    and mask, not on every logged decision."""
    return tuple(
        next((p for p in paths if any(_overlaps(p, m) for m in private)), None) for paths in slots
    )


def _overlaps(path: tuple[object, ...], private: tuple[str, ...]) -> bool:
    """`prompt` is private, and so are `messages[0].content` (inside `messages`),
    `tool` (which holds `tool.output`) and `()` (every fact)."""
    n = min(len(path), len(private))
    return path[:n] == private[:n]


def _written(path: tuple[object, ...]) -> str:
    if not path:  # what a payload that could not be read quoted: any fact
        return "the call's facts"
    out = str(path[0])
    for key in path[1:]:
        if isinstance(key, int):
            out += f"[{key}]"
        elif isinstance(key, str) and key.isidentifier():
            out += f".{key}"
        else:
            out += "[" + json.dumps(key, ensure_ascii=False) + "]"
    return out


def mask_facts(facts: Mapping[str, Any], capture: Capture) -> dict[str, Any] | None:
    if not capture.facts:
        return None
    out: dict[str, Any] = plain(facts, private=private_paths(capture))
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


def derive_facts(
    facts: Mapping[str, Any], reads: Collection[str], tokenizer: Tokenizer | None
) -> dict[str, Any] | None:
    """The derived facts among `reads`, as the rules got them (None: none read).

    One the call could not derive (a given `tokens` of -1: the rule got an error) is
    left out, so replay reports it missing rather than inventing one."""
    names = [name for name in DERIVED if name in reads]
    if not names:
        return None
    given = facts if type(facts) is dict else dict(facts)
    out: dict[str, Any] = {}
    for name in names:
        try:
            value = _derivations(tokenizer)[name](given, {})
        except Exception:
            continue
        out[name] = plain(value)
    return out


def _derivations(tokenizer: Tokenizer | None) -> dict[str, Derivation]:
    try:
        return _cached_derivations(tokenizer)
    except TypeError:  # a tokenizer that cannot be hashed
        return _build_derivations(tokenizer)


def _build_derivations(tokenizer: Tokenizer | None) -> dict[str, Derivation]:
    bindings = make_bindings(tokenizer)
    return {fact.name: bindings[fact.binding] for fact in DERIVED.values()}


_cached_derivations = functools.lru_cache(maxsize=16)(_build_derivations)
