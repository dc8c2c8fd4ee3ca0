"""Reading a decision log back, as damaged as a killed process may have left it.

Damage inside a log is expected and survivable: a process killed mid-write leaves a
torn last line, a full disk a torn line anywhere, and a report over a million records
should not be lost to one bad line. So a line that is not a record is skipped and
counted (with its file and line number, for the report to show). A file that cannot
be read at all (missing, a directory, no permission) or that holds no record in any
of its lines (another file given by mistake) is an error: a rollout gate reading it
would otherwise pass on an empty log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import GuardrailsError


class LogError(GuardrailsError):
    """A decision log that cannot be read, or is not one."""


@dataclass
class ReadStats:
    records: int = 0
    skipped: list[int] = field(default_factory=list)  # line numbers that were not records
    # file -> its line numbers that were not records
    damaged: dict[str, list[int]] = field(default_factory=dict)


def read_records(path: str | Path, stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """Decision records from a JSON Lines file, tolerating damage.

    A line that is not a complete JSON object (typically the last line of a process
    killed mid-write) is skipped and its number noted in `stats.skipped`. Raises
    `LogError` when the file cannot be opened or read, or when it has lines but not
    one of them is a record.
    """
    stats = stats if stats is not None else ReadStats()
    found = 0
    bad: list[int] = []
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    record = None
                if not isinstance(record, dict):
                    stats.skipped.append(number)
                    bad.append(number)
                    stats.damaged.setdefault(str(path), []).append(number)
                    continue
                found += 1
                stats.records += 1
                yield record
    except OSError as err:
        raise LogError(f"cannot read decision log {path}: {err.strerror or err}") from None
    if bad and not found:
        raise LogError(
            f"{path} is not a decision log: none of its {len(bad)} lines is a JSON record "
            "(a log is what JsonlSink writes)"
        )
