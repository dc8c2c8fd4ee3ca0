"""The judge a corpus runs with: canned answers from the case being run.

A case that exercises `judge(...)` says what the judge answers:

    "judge": {"fully answer": "NO: it names no source"}

Each key is a piece of the question (or of the judged text); the first key found in
the prompt gives the reply, which is parsed like a model's (so a case can also show
that an unparsable reply fails closed). A question the case has no answer for is an
error: the rule's verdict is `error`, as when a real judge cannot be reached.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

Answers = tuple[tuple[str, str], ...]
_CURRENT: contextvars.ContextVar[Answers | None] = contextvars.ContextVar(
    "guardrails_case_judge", default=None
)


class CaseJudge:
    """`load(judge=CaseJudge())`: replies from the running case's `judge` answers."""

    def __call__(self, prompt: str) -> str:
        answers = _CURRENT.get()
        for key, reply in answers or ():
            if key in prompt:
                return reply
        raise LookupError("the case gives the judge no answer for this question (add 'judge')")


@contextlib.contextmanager
def answering(answers: Answers) -> Iterator[None]:
    """The judge's answers while one case runs (through evaluate and through cpex)."""
    token = _CURRENT.set(answers)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def parse_answers(data: Any) -> Answers:
    """A case's `judge` object, its shape checked; raises ValueError."""
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(
            "'judge' maps a piece of the question to the judge's reply, "
            'e.g. {"grounded": "NO: nothing supports the second claim"}'
        )
    return tuple(data.items())
