"""A Haystack chat generator that replies from a script: test rules in a real Agent
with no model.

A test double, so it lives with the others in `guardrails.testing` rather than in the
adapter hosts run in production.
"""

from __future__ import annotations

from typing import Any

from ..extras import missing_extra

try:
    from haystack.dataclasses import ChatMessage
except ImportError as err:  # name the extra to install, not a module deep inside
    raise missing_extra("haystack", "guardrails.testing.haystack", err) from None


class ScriptedChatGenerator:
    """A Haystack chat generator that replies from a script, for testing rules end to
    end in a real Agent without a model: each item is a reply text or a ChatMessage
    (with tool calls, say); the last item repeats. `seen` holds what each call was
    sent. Replies report `prompt_tokens` of usage, so `tokens` facts are exercised.
    """

    def __init__(self, script: list[Any], prompt_tokens: int = 100) -> None:
        if not script:
            raise ValueError("the script needs at least one reply")
        self.script = list(script)
        self.prompt_tokens = prompt_tokens
        self.calls = 0
        self.seen: list[list[Any]] = []

    def run(self, messages: list[Any], tools: Any = None, **kwargs: Any) -> dict[str, Any]:
        self.seen.append(list(messages))
        item = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        msg = ChatMessage.from_assistant(item) if isinstance(item, str) else item
        meta = {
            "finish_reason": "tool_calls" if msg.tool_calls else "stop",
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": 10},
        }
        reply = ChatMessage.from_assistant(text=msg.text, tool_calls=msg.tool_calls, meta=meta)
        return {"replies": [reply]}
