"""A Mellea backend that returns canned replies: test rules end to end with no model.

It behaves like a real FormatterBackend where rules can see it: the prompt goes
through Mellea's TemplateFormatter, the reply arrives through an *uncomputed* thunk
(so `generation_post_call` fires), a GenerateLog is attached, and a reply may be a
tool call, which `mellea.stdlib.functional.call_tools` then runs through the
`tool_pre_invoke`/`tool_post_invoke` hooks. Every request is kept in `requests`
(messages and the merged model options), so a test can see what reached the backend.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..extras import missing_extra

try:
    from mellea.backends.backend import FormatterBackend
    from mellea.backends.model_options import ModelOption
    from mellea.backends.tools import add_tools_from_context_actions, add_tools_from_model_options
    from mellea.core import GenerateLog, GenerateType, ModelOutputThunk, ModelToolCall
    from mellea.formatters import TemplateFormatter
    from mellea.helpers.async_helpers import send_to_queue
except ImportError as err:  # name the extra to install, not a module deep inside
    raise missing_extra("mellea", "guardrails.testing.canned", err) from None


@dataclass(frozen=True)
class ToolCallReply:
    """A canned reply that asks to call a tool."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""


Reply = str | ToolCallReply


class CannedBackend(FormatterBackend):
    def __init__(
        self,
        replies: Sequence[Reply] | Callable[[list[dict[str, str]]], Reply] = ("ok",),
        model_id: str = "canned-model",
        model_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            model_id=model_id,
            formatter=TemplateFormatter(model_id=model_id),
            model_options=model_options,
        )
        self._model_id = model_id
        self._provider = "canned"
        self._replies = replies
        self.requests: list[dict[str, Any]] = []

    def _next_reply(self, messages: list[dict[str, str]]) -> Reply:
        if callable(self._replies):
            return self._replies(messages)
        replies = list(self._replies)
        return replies[min(len(self.requests) - 1, len(replies) - 1)]

    async def _generate_from_context(
        self,
        action: Any,
        ctx: Any,
        *,
        format: Any = None,
        model_options: dict[str, Any] | None = None,
        tool_calls: bool = False,
    ) -> tuple[ModelOutputThunk[Any], Any]:
        options = {**self.model_options, **(model_options or {})}
        linearized = ctx.view_for_generation() or []
        chat = self.formatter.to_chat_messages([*linearized, action])
        messages = [{"role": m.role, "content": self.formatter.print(m)} for m in chat]
        system = options.get(ModelOption.SYSTEM_PROMPT, "")
        if system:
            messages.insert(0, {"role": "system", "content": system})
        self.requests.append({"messages": messages, "model_options": dict(options)})
        reply = self._next_reply(messages)

        tools: dict[str, Any] = {}
        if tool_calls:
            add_tools_from_model_options(tools, options)
            add_tools_from_context_actions(tools, ctx.actions_for_available_tools())
            add_tools_from_context_actions(tools, [action])

        mot: ModelOutputThunk[Any] = ModelOutputThunk(None)
        mot._gen.start = datetime.datetime.now()
        mot._call.context = linearized
        mot._call.action = action
        mot._call.model_options = options
        mot._gen.process = self._process
        mot._gen.post_process = functools.partial(
            self._post_process, messages=messages, reply=reply, tools=tools
        )
        mot.generation.model = self._model_id
        mot.generation.provider = self._provider
        text = reply.text if isinstance(reply, ToolCallReply) else reply

        async def respond() -> str:
            return text

        mot._gen.generate = asyncio.create_task(send_to_queue(respond(), mot))
        mot._gen.generate_type = GenerateType.ASYNC
        return mot, ctx.add(action).add(mot)

    async def _process(self, mot: ModelOutputThunk[Any], chunk: Any) -> None:
        mot._underlying_value = (mot._underlying_value or "") + str(chunk)

    async def _post_process(
        self,
        mot: ModelOutputThunk[Any],
        messages: list[dict[str, str]],
        reply: Reply,
        tools: dict[str, Any],
    ) -> None:
        if isinstance(reply, ToolCallReply):
            tool = tools.get(reply.name)
            if tool is None:
                raise KeyError(f"canned tool call {reply.name!r}: no such tool offered")
            mot.tool_calls = [ModelToolCall(reply.name, tool, dict(reply.args), "call-1")]
        log = GenerateLog()
        log.prompt = messages
        log.backend = f"canned::{self._model_id}"
        log.model_options = mot._call.model_options
        log.date = datetime.datetime.now()
        log.action = mot._call.action
        log.result = mot
        mot._generate_log = log

    async def _generate_from_raw(
        self, actions: Sequence[Any], ctx: Any, **kwargs: Any
    ) -> tuple[list[ModelOutputThunk[Any]], dict[str, Any] | None]:
        results: list[ModelOutputThunk[Any]] = []
        for action in actions:
            prompt = self.formatter.print(action)
            self.requests.append({"messages": [{"role": "user", "content": prompt}]})
            reply = self._next_reply([{"role": "user", "content": prompt}])
            text = reply.text if isinstance(reply, ToolCallReply) else reply
            results.append(ModelOutputThunk(value=text))
        return results, None
