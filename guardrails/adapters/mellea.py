"""Mellea-specific fact extraction: render the prompt exactly as Mellea's formatter does.

`generation_pre_call` carries the action and the context, not the text; the text a
FormatterBackend sends is the context's linearized view plus the action, turned into
chat messages by a `TemplateFormatter` (and a system prompt from the model options).
The prompt fact is those messages as `role: content` lines, so `tokens` (len/4) is
Mellea's own estimate.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=32)
def _formatter(model_id: str) -> Any:
    from mellea.formatters import TemplateFormatter

    return TemplateFormatter(model_id=model_id)


def render_messages(payload: Any) -> list[dict[str, str]]:
    """The chat messages a Mellea FormatterBackend would send for this payload."""
    spans: list[Any] = []
    context = getattr(payload, "context", None)
    view = getattr(payload, "context_view", None)
    if view is None and context is not None and hasattr(context, "view_for_generation"):
        view = context.view_for_generation()
    spans.extend(view or [])
    action = getattr(payload, "action", None)
    if action is not None:
        spans.append(action)
    return _messages(payload, spans)


def _messages(payload: Any, spans: list[Any]) -> list[dict[str, str]]:
    from mellea.backends.model_options import ModelOption

    fmt = _formatter(getattr(payload, "model", None) or "")
    messages = [{"role": m.role, "content": fmt.print(m)} for m in fmt.to_chat_messages(spans)]
    options = getattr(payload, "model_options", None) or {}
    # `system` is what several backends take for ModelOption.SYSTEM_PROMPT
    system = (
        (options.get(ModelOption.SYSTEM_PROMPT) or options.get("system") or "")
        if hasattr(options, "get")
        else ""
    )
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return messages


RENDERS = [0]  # how many prompts were rendered (structural tests count them)


def render_prompt(payload: Any) -> str:
    RENDERS[0] += 1
    return "\n".join(f"{m['role']}: {m['content']}" for m in render_messages(payload))


def render_batch_prompt(payload: Any) -> str:
    """Every prompt of a `generation_batch_pre_call` (one per action, as
    `generate_from_raw` sends them), so content rules see each one and `tokens`
    counts them all."""
    RENDERS[0] += 1
    prompts = []
    for action in getattr(payload, "actions", None) or ():
        lines = (f"{m['role']}: {m['content']}" for m in _messages(payload, [action]))
        prompts.append("\n".join(lines))
    return "\n".join(prompts)


@functools.lru_cache(maxsize=1)
def _sentinels() -> dict[str, str]:
    """Mellea's own option keys: plain name -> `@@@name@@@`."""
    from mellea.backends.model_options import ModelOption

    keys = (v for k, v in vars(ModelOption).items() if k.isupper() and isinstance(v, str))
    return {v.strip("@"): v for v in keys if v.startswith("@@@") and v.endswith("@@@")}


def plain_options(options: Any) -> Any:
    """Model options as rules see them: Mellea's `@@@name@@@` keys under `name`."""
    if not isinstance(options, dict):
        return options
    known = set(_sentinels().values())
    return {k.strip("@") if k in known else k: v for k, v in options.items()}


def mellea_options(options: Any, original: Any) -> Any:
    """Rule-written options back in the keys the payload had: a plain name goes back to
    `@@@name@@@` where that is how the original options spelled it."""
    if not isinstance(options, dict) or not isinstance(original, dict):
        return options
    sentinels = _sentinels()
    back = {n: s for n, s in sentinels.items() if s in original and n not in original}
    return {back.get(k, k): v for k, v in options.items()}


def current_session() -> str | None:
    """The id of the Mellea session whose `with` block the call runs in (Mellea's
    hook payloads leave `session_id` empty outside the session hooks)."""
    from mellea.telemetry.context import get_session_id

    return get_session_id()
