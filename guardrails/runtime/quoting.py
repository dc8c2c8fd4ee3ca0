"""Error messages that may quote what a rule read, and what each audience gets of them.

Our own errors name types, never payload values. A host function's exception, the
judge's unparsable reply or a detector's crash are someone else's text: `ValueError:
cannot classify 'my ssn is ...'` quotes its argument. The caller whose call failed may
read it (its own text); a decision log must not, when the argument was conversation
text the log's capture masks; and a circuit breaker, which repeats its last failure to
every later caller while it is open, gets no quoted text at all (one caller's prompt
would be told to the next).
"""

from __future__ import annotations

from typing import Any

from .ops import RuleTypeError
from .reasons import Reason
from .state import StateError

MAX_ERROR_TEXT = 200


class QuotedError(Reason):
    """An error message whose middle piece is foreign text that may show any of the
    facts its rule read (`slots`); a decision log writes that piece as `withheld`."""

    withheld = "[not logged: it may show {}]"


class QuotingError(RuleTypeError):
    """A failure of code we do not own: `quoted` is what it said, `summary` the same
    failure without it (`classify() failed: ValueError`)."""

    from_input = False  # the function's failure: it counts against a breaker

    def __init__(self, prefix: str, quoted: str, summary: str) -> None:
        super().__init__(prefix + quoted)
        self.prefix = prefix
        self.quoted = quoted
        self.summary = summary


def short(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def foreign(
    err: BaseException, lead: str = "", kind: type[QuotingError] = QuotingError
) -> QuotingError:
    """`err` (raised by code we do not own) as `LEAD TypeName: message`, of class `kind`."""
    name = type(err).__name__
    try:
        said = str(err)
    except Exception:
        said = ""
    summary = lead + name
    if not said:
        return kind(summary, "", summary)
    prefix = f"{summary}: "
    return kind(prefix, short(said, max(MAX_ERROR_TEXT - len(prefix), 20)), summary)


def summary(err: BaseException) -> str:
    """The failure without anything it quoted: what a circuit breaker keeps."""
    if isinstance(err, QuotingError):
        return err.summary
    if isinstance(err, RuleTypeError):
        return str(err)
    return type(err).__name__


def described(err: BaseException, paths: tuple[tuple[Any, ...], ...], lead: str = "") -> str:
    """`LEAD` and the error's message, for the caller; a `QuotedError` (the log withholds
    the quoted part when one of the fact `paths` the rule read is private) when it
    quotes foreign text."""
    if isinstance(err, StateError):  # ours: it names the store's failure, not a value
        return short(f"{lead}{type(err).__name__}: {err}", MAX_ERROR_TEXT + len(lead))
    if not isinstance(err, RuleTypeError):
        err = foreign(err)
    if not isinstance(err, QuotingError) or not err.quoted:
        return short(lead + str(err), MAX_ERROR_TEXT + len(lead))
    message = QuotedError(lead + err.prefix + err.quoted)
    message.pieces = (lead + err.prefix, err.quoted, "")
    message.slots = (paths,)
    return message
