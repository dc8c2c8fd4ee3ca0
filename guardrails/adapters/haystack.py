"""Haystack Agent hooks from a policy: `Agent(hooks=policy.haystack_hooks())`.

Haystack hooks act only by mutating the Agent's `State`, so each hook point gets one
`RulesHook` that reads facts from State, runs the point's rules through
`Policy.evaluate` (records, shadow, fail-closed errors all as in every other host), and
turns the verdict into the State change that has the intended effect at that point:

- before_run, before_llm: `block` stops the run (`stop_run` = the reason, which becomes
  `exit_reason`) and adds a final assistant message saying why; `set`/`redact` rewrite
  `last_message.text`; `append`/`prepend`/`replace` change `messages`, which is what
  the model is sent (State's `messages` is replaced, not appended to).
- before_tool: `block` drops the offending tool calls, each paired with an error tool
  result carrying the reason, so the model is told why; `set` rewrites `tool.args`.
- after_tool: `block` replaces the tool's result with an error result carrying the
  reason; `set`/`redact` rewrite `tool.output`.
- on_exit: `continue` (or `block`) refuses the exit: the run continues and the model gets the reason
  as a user message (bounded by the Agent's `max_agent_steps`).
- after_run: `block` withholds the final answer: the last message becomes the refusal.

Rules at `before_tool` / `after_tool` run once per tool call / tool result. The haystack
import happens here, on first use, never in `import guardrails`.

Context facts come from `hook_context` (`agent.run(..., hook_context={"user": ...})`).
`session` is `hook_context["session"]` when the caller gives one (a conversation
that spans runs); otherwise each Agent run is a session of its own: the first hook
that needs it puts a new id into the run's `hook_context` (a copy: the caller's dict
is never changed), which every later hook of the run reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..extras import missing_extra

try:
    from haystack.components.agents.state.state_utils import replace_values
    from haystack.dataclasses import ChatMessage, ToolCall
except ImportError as err:  # name the extra to install, not a module deep inside
    raise missing_extra(
        "haystack", "the Haystack host (guardrails.adapters.haystack)", err
    ) from None

from ..runtime.hostrun import offload
from ..runtime.messages import MessageList, role_and_text
from ..runtime.ops import get_path
from ..runtime.program import EditMessages

if TYPE_CHECKING:
    from ..policy.policy import Policy
    from ..runtime.verdict import Verdict

HOOK_POINTS = ("before_run", "before_llm", "before_tool", "after_tool", "on_exit", "after_run")
BLOCKED = "Blocked by policy: "
# hook_context keys read as the context facts every hook has
_CONTEXT_KEYS = ("user", "tenant", "server", "request_id", "session")


def haystack_hooks(policy: Policy) -> dict[str, list[RulesHook]]:
    """One hook per Haystack hook point that has rules (Haystack wants a list per point,
    and a hook object is not told which point fired it)."""
    return {point: [RulesHook(policy, point)] for point in HOOK_POINTS if policy.programs(point)}


class RulesHook:
    """The rules of one hook point. Stateless between calls: hook objects are shared by
    every run and concurrent request, so everything per-run lives in State."""

    def __init__(self, policy: Policy, point: str) -> None:
        if point not in HOOK_POINTS:
            raise ValueError(f"{point!r} is not a Haystack hook point; use one of {HOOK_POINTS}")
        self.policy = policy
        self.point = point
        # Haystack checks this at Agent construction, so a hook registered under the
        # wrong point fails there instead of silently guarding the wrong moment.
        self.allowed_hook_points = (point,)
        self._reads_of: object = None
        self._reads_set: frozenset[str] = frozenset()

    def run(self, state: Any) -> None:
        if self.point == "before_tool":
            self._before_tool(state)
        elif self.point == "after_tool":
            self._after_tool(state)
        else:
            self._on_text(state)

    def _reads(self) -> frozenset[str]:
        """The top-level facts this point's rules read, so the conversation-sized ones
        (`messages`, `prompt`) are built only when a rule needs them."""
        programs = self.policy.programs(self.point)
        if self._reads_of is not programs:  # a reload swapped the rules
            self._reads_of = programs
            self._reads_set = frozenset().union(*(p.reads for p in programs))
        return self._reads_set

    def _adders(self) -> frozenset[str]:
        """The rules of this point that can add a message (named in its meta)."""
        return frozenset(
            p.id
            for p in self.policy.programs(self.point)
            if any(isinstance(a, EditMessages) and a.kind != "replace" for a in p.actions)
        )

    async def run_async(self, state: Any) -> None:
        # Evaluation is microseconds of CPU; a worker thread would cost more than it
        # saves, unless the rules call host functions, which may wait (a judge's model)
        runner = self.policy.compiled.runners.get(self.point)
        if runner is not None and runner.hosted:
            await offload(self.run, state)
        else:
            self.run(state)

    def __repr__(self) -> str:
        return f"RulesHook({self.point!r}, {len(self.policy.programs(self.point))} rules)"

    # ---- the points ----

    def _on_text(self, state: Any) -> None:
        messages = list(state.data.get("messages") or [])
        facts = _facts(state, messages, self._reads())
        verdict = self.policy.evaluate(self.point, facts)
        if verdict.outcome == "block":
            reason = _reason(verdict)
            note = {"guardrails": {"rule": verdict.blocked_by, "code": verdict.code}}
            if self.point in ("before_run", "before_llm"):
                state.set("stop_run", reason)
                state.set("messages", [ChatMessage.from_assistant(BLOCKED + reason, meta=note)])
            elif self.point == "on_exit":
                state.set("messages", [ChatMessage.from_user(f"[policy] {reason}", meta=note)])
                state.set("continue_run", True)
            else:  # after_run: the run is over; withhold its answer
                refusal = ChatMessage.from_assistant(BLOCKED + reason, meta=note)
                _replace(state, [*messages[:-1], refusal])
            return
        if verdict.outcome == "modify":
            out, origins = _edited(messages, facts.get("messages"), verdict, self._adders())
            text = get_path(verdict.payload, ("last_message", "text"))
            if messages and text != _message_text(messages[-1]):
                last = origins.index(len(messages) - 1)  # where the last message is now
                out[last] = _with_text(messages[-1], text)
            if out != messages:
                _replace(state, out)

    def _before_tool(self, state: Any) -> None:
        messages = list(state.data.get("messages") or [])
        pending = messages[-1] if messages else None
        if pending is None or not pending.tool_calls:
            return
        base = _facts(state, messages, self._reads())
        kept: list[ToolCall] = []
        tail: list[ChatMessage] = []
        changed = False
        for call in pending.tool_calls:
            tool = {"name": call.tool_name, "args": dict(call.arguments), "id": call.id}
            verdict = self.policy.evaluate(self.point, {**base, "tool": tool})
            if verdict.outcome == "block":
                changed = True
                tail += [
                    ChatMessage.from_assistant(
                        text=pending.text, meta=pending.meta, tool_calls=[call]
                    ),
                    ChatMessage.from_tool(BLOCKED + _reason(verdict), origin=call, error=True),
                ]
                continue
            args = get_path(verdict.payload, ("tool", "args"))
            if verdict.outcome == "modify" and isinstance(args, dict) and args != call.arguments:
                changed = True
                kept.append(ToolCall(tool_name=call.tool_name, arguments=args, id=call.id))
            else:
                kept.append(call)
        if not changed:
            return
        # Haystack executes only the last message's calls: allowed ones go last.
        if kept:
            tail.append(
                ChatMessage.from_assistant(text=pending.text, meta=pending.meta, tool_calls=kept)
            )
        _replace(state, messages[:-1] + tail)

    def _after_tool(self, state: Any) -> None:
        messages = list(state.data.get("messages") or [])
        start = len(messages)
        while start and messages[start - 1].tool_call_result is not None:
            start -= 1
        if start == len(messages):
            return
        base = _facts(state, messages, self._reads())
        out, changed = messages[:start], False
        for message in messages[start:]:
            result = message.tool_call_result
            output = _result_text(result.result)
            tool = {
                "name": result.origin.tool_name,
                "args": dict(result.origin.arguments),
                "id": result.origin.id,
                "output": output,
                "error": bool(result.error),
            }
            verdict = self.policy.evaluate(self.point, {**base, "tool": tool})
            if verdict.outcome == "block":
                text: object = BLOCKED + _reason(verdict)
                error = True
            else:
                text, error = get_path(verdict.payload, ("tool", "output")), result.error
            if verdict.outcome in ("block", "modify") and text != output:
                changed = True
                out.append(
                    ChatMessage.from_tool(
                        str(text), origin=result.origin, error=error, meta=message.meta
                    )
                )
            else:
                out.append(message)
        if changed:
            _replace(state, out)


def _usage(raw: Any) -> dict[str, int | None]:
    """Provider usage in the three keys rules may read (OpenAI-style names; Anthropic's
    `input_tokens`/`output_tokens` count as prompt/completion)."""
    usage = raw if isinstance(raw, dict) else {}

    def count(*names: str) -> int | None:
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    prompt = count("prompt_tokens", "input_tokens")
    completion = count("completion_tokens", "output_tokens")
    total = count("total_tokens")
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def _facts(state: Any, messages: list[Any], reads: frozenset[str]) -> dict[str, Any]:
    """The facts every Haystack point shares (see guardrails.hosts.haystack); the ones
    linear in the conversation only when `reads` (the rules' top-level facts) needs them."""
    data = state.data
    last = messages[-1] if messages else None
    facts: dict[str, Any] = {
        "last_message": (
            {"role": last.role.value, "text": _message_text(last)}
            if last is not None
            else {"role": "", "text": None}
        ),
        "step_count": data.get("step_count", 0),
        "token_usage": _usage(data.get("token_usage")),
        "tool_call_counts": data.get("tool_call_counts") or {},
        "exit_reason": data.get("exit_reason"),
    }
    if data.get("context_tokens"):
        # the provider's own count of the current context beats an estimate; without
        # it, `tokens` is derived from `prompt` as on every other hook
        facts["tokens"] = data["context_tokens"]
    if "messages" in reads or "prompt" in reads or ("tokens" in reads and "tokens" not in facts):
        rows = [{"role": m.role.value, "text": _message_text(m)} for m in messages]
        facts["messages"] = rows
        facts["prompt"] = "\n".join(r["text"] for r in rows if r["text"])
    context = data.get("hook_context")
    if isinstance(context, Mapping):
        facts.update((key, context[key]) for key in _CONTEXT_KEYS if key in context)
    if "session" in reads and not facts.get("session"):
        facts["session"] = run_session(state)
    return facts


def run_session(state: Any) -> str:
    """The session of a run the caller named none for: an id kept in the run's
    `hook_context`, made by the first hook that asks."""
    context = state.data.get("hook_context")
    context = dict(context) if isinstance(context, Mapping) else {}
    session = context.get("session")
    if not isinstance(session, str) or not session:
        session = context["session"] = f"haystack-run-{uuid.uuid4().hex}"
        state.set("hook_context", context, handler_override=replace_values)
    return session


def _message_text(message: Any) -> str | None:
    if message.text is not None:
        return str(message.text)
    result = message.tool_call_result
    return None if result is None else _result_text(result.result)


def _result_text(result: Any) -> str:
    """A tool result as text: a string, or the text parts of a list of content parts."""
    if isinstance(result, str):
        return result
    if isinstance(result, list):
        return "\n".join(str(p.text) for p in result if getattr(p, "text", None) is not None)
    return str(result)


def _with_text(message: Any, text: Any) -> Any:
    """`message` with its text replaced, keeping its role, meta and tool calls."""
    text = None if text is None else str(text)
    role = message.role.value
    if message.tool_call_result is not None:
        result = message.tool_call_result
        return ChatMessage.from_tool(
            text or "", origin=result.origin, error=result.error, meta=message.meta
        )
    if role == "assistant":
        return ChatMessage.from_assistant(
            text=text, meta=message.meta, tool_calls=message.tool_calls or None
        )
    if role == "system":
        return ChatMessage.from_system(text or "", meta=message.meta)
    return ChatMessage.from_user(text or "", meta=message.meta)


def _edited(
    messages: list[Any], rows: Any, verdict: Verdict, adders: frozenset[str]
) -> tuple[list[Any], tuple[int | None, ...]]:
    """The conversation with the rules' `append`/`prepend`/`replace` made: the Agent's
    own ChatMessages where the rules kept a row (`MessageList.origins`), a new one for
    a row a rule added (its meta naming the rules that added messages), a replaced
    text in the original's kind of message (a tool result stays with its call)."""
    edited = verdict.payload.get("messages")
    if rows is None or edited is rows or not isinstance(edited, MessageList):
        return list(messages), tuple(range(len(messages)))
    by = [r.rule_id for r in verdict.rules if "messages" in r.changes and r.rule_id in adders]
    out: list[Any] = []
    for row, origin in zip(edited, edited.origins, strict=True):
        role, text = role_and_text(row)
        if origin is not None:
            kept = row is rows[origin]
            out.append(messages[origin] if kept else _with_text(messages[origin], text))
        elif role == "system":
            out.append(ChatMessage.from_system(text or "", meta={"guardrails": {"rules": by}}))
        elif role == "assistant":
            out.append(ChatMessage.from_assistant(text, meta={"guardrails": {"rules": by}}))
        else:
            out.append(ChatMessage.from_user(text or "", meta={"guardrails": {"rules": by}}))
    return out, edited.origins


def _replace(state: Any, messages: list[Any]) -> None:
    # `state.set("messages", ...)` appends; replacing needs the handler override.
    state.set("messages", messages, handler_override=replace_values)


def _reason(verdict: Verdict) -> str:
    return verdict.reason or f"rule {verdict.blocked_by} blocked this ({verdict.code or 'no code'})"
