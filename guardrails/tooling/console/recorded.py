"""Recorded calls from the --decisions logs, to prefill the playground's payload.

A call record holds the facts as the capture masked them (records/capture.py): text
the capture was told to mask is a digest, not the text. The playground shows them
as recorded; the dashboard, which shows many calls at once, shows none of them.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...records.reader import LogError, read_records
from ..seeding import PriorStateError, format_time, parse_now
from .rollout_data import files_changed_key
from .state import ConsoleState
from .workbench import WorkbenchError

LISTED = 200  # the newest calls listed; a log holds millions


def _calls(logs: tuple[Path, ...]) -> Iterator[dict[str, Any]]:
    """The logs' call records with facts, one at a time: a log can be larger than
    memory, so none is read whole."""
    for log in logs:
        try:
            for record in read_records(log):
                if record.get("kind") == "call" and isinstance(record.get("facts"), dict):
                    yield record
        except LogError as err:
            raise WorkbenchError("bad_log", str(err), 500) from None


def _time(record: dict[str, Any]) -> str:
    return str(record.get("timestamp") or "")


def _newest(state: ConsoleState) -> list[dict[str, Any]]:
    """The newest calls, read again only when a log changed (its size or mtime): the
    page asks on every visit, and a large log takes seconds to read."""
    logs = tuple(state.decisions)
    return _newest_of(logs, files_changed_key(logs))


@functools.lru_cache(maxsize=4)
def _newest_of(logs: tuple[Path, ...], _key: object) -> list[dict[str, Any]]:
    return heapq.nlargest(LISTED, _calls(logs), key=_time)


def recorded_calls(state: ConsoleState) -> list[dict[str, Any]]:
    """The newest recorded calls with facts: id, hook, time, outcome (no facts)."""
    return [
        {
            "call_id": r.get("call_id"),
            "hook": r.get("hook"),
            "time": _when(r),
            "outcome": r.get("outcome"),
            "blocked_by": r.get("blocked_by"),
        }
        for r in _newest(state)
    ]


def recorded_call(state: ConsoleState, call_id: str) -> dict[str, Any]:
    """One call's hook and payload (its facts as recorded, at its time); the newest
    record of that id, should a log hold it twice. A listed call is found without
    reading the logs again."""
    found: dict[str, Any] | None = None
    listed = _newest(state)
    calls = listed if any(r.get("call_id") == call_id for r in listed) else _calls(state.decisions)
    for record in calls:
        if record.get("call_id") == call_id and (found is None or _time(record) > _time(found)):
            found = record
    if found is None:
        raise WorkbenchError(
            "not_found", f"no recorded call {call_id!r} in the --decisions logs", 404
        )
    payload: dict[str, Any] = {"facts": found["facts"]}
    when = _when(found)
    if when is not None:
        payload["now"] = when
    return {"hook": found.get("hook"), "payload": payload}


def _when(record: dict[str, Any]) -> str | None:
    """The call's time as a payload's `now` takes it (ISO 8601, UTC)."""
    try:
        return format_time(parse_now(record.get("timestamp")))
    except (PriorStateError, ValueError, OverflowError):  # no time, or past year 9999 in UTC
        return None
