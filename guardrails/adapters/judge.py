"""The LLM judge's client: `load(judge=...)` reaches the model through the host's own.

- a Mellea backend, or a session (its backend is used): the prompt is one user
  `Message` in a fresh `SimpleContext` (the session's own context is never touched),
  generated without a sampling strategy; async (`aact`) on the host's loop inside an
  async host, Mellea's sync `act` elsewhere;
- a Haystack chat generator (anything with `run(messages=[ChatMessage])` returning
  `{"replies": [ChatMessage, ...]}`; its `run_async` inside an async host);
- any callable from the prompt to the reply text, sync or async.

Each is imported only when that kind of client is given. Mellea's plugins are
global, so the judge's own generation fires the policy's Mellea hooks too: the cpex
plugins let a call made by one of the policy's host functions through
(`runtime.hostrun.inside`) instead of judging the judge.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..extras import missing_extra
from ..runtime.hostfn import HostFunction, HostFunctionSpecError
from ..runtime.judge import Ask, AskAsync, Judge
from ..runtime.judge import judge_functions as _pack


def judge_functions(given: Any) -> list[HostFunction]:
    """The judge's host functions for `load(judge=given)`; `given=None`: declared, with
    no model behind them (every call fails closed, the checker warns)."""
    options = given if isinstance(given, Judge) else Judge(given)
    if options.client is None:
        return _pack(None, None, options)
    ask, ask_async = client_forms(options.client)
    return _pack(ask, ask_async, options)


def _from_mellea(obj: Any) -> bool:
    """A Mellea object, or one of a class built on Mellea's (a custom backend)."""
    return any((c.__module__ or "").startswith("mellea.") for c in type(obj).__mro__)


def client_forms(client: Any) -> tuple[Ask | None, AskAsync | None]:
    """(sync, async) ways to ask `client` a prompt and get the reply's text."""
    if client is None:
        raise HostFunctionSpecError(
            "judge=None: give a Mellea backend or session, a chat generator, or a callable"
        )
    if _from_mellea(client):
        return _mellea(client)
    if callable(getattr(client, "run", None)):
        return _haystack(client)
    if callable(client):
        call = getattr(client, "__call__", None)  # noqa: B004
        if inspect.iscoroutinefunction(client) or inspect.iscoroutinefunction(call):
            return None, client
        return client, None
    raise HostFunctionSpecError(
        f"judge={type(client).__name__}: give a Mellea backend or session, a Haystack chat "
        "generator (run(messages=...)), or a callable from the prompt to the reply text"
    )


def _mellea(client: Any) -> tuple[Ask, AskAsync]:
    from mellea.core import Backend
    from mellea.stdlib import functional
    from mellea.stdlib.components import Message
    from mellea.stdlib.context import SimpleContext

    backend = client if isinstance(client, Backend) else getattr(client, "backend", None)
    if not isinstance(backend, Backend):
        raise HostFunctionSpecError(
            f"judge={type(client).__name__}: not a Mellea backend or session"
        )

    def ask(prompt: str) -> str:
        out, _ = functional.act(Message("user", prompt), SimpleContext(), backend, strategy=None)
        return str(out.value)

    async def ask_async(prompt: str) -> str:
        out, _ = await functional.aact(
            Message("user", prompt), SimpleContext(), backend, strategy=None, await_result=True
        )
        return str(out.value)

    return ask, ask_async


def _haystack(generator: Any) -> tuple[Ask, AskAsync | None]:
    try:
        from haystack.dataclasses import ChatMessage
    except ImportError as err:  # a `run(messages=...)` object: taken for a chat generator
        feature = f"judge={type(generator).__name__} (a Haystack chat generator)"
        raise missing_extra("haystack", feature, err) from None

    def text_of(result: Any) -> str:
        replies = result.get("replies") if isinstance(result, dict) else None
        if not replies:
            raise ValueError("the chat generator gave no reply")
        text = getattr(replies[0], "text", None)
        if not isinstance(text, str):
            raise ValueError("the chat generator's reply has no text")
        return text

    def ask(prompt: str) -> str:
        return text_of(generator.run(messages=[ChatMessage.from_user(prompt)]))

    ask_async = None
    if callable(getattr(generator, "run_async", None)):

        async def ask_async(prompt: str) -> str:
            return text_of(await generator.run_async(messages=[ChatMessage.from_user(prompt)]))

    return ask, ask_async
