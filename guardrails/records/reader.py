"""Reading a decision log back, as damaged as a killed process may have left it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ReadStats:
    records: int = 0
    skipped: list[int] = field(default_factory=list)  # line numbers that were not records


def read_records(path: str | Path, stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """Decision records from a JSON Lines file, tolerating damage.

    A line that is not a complete JSON object (typically the last line of a process
    killed mid-write) is skipped and its number noted in `stats.skipped`.
    """
    stats = stats if stats is not None else ReadStats()
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                stats.skipped.append(number)
                continue
            if not isinstance(record, dict):
                stats.skipped.append(number)
                continue
            stats.records += 1
            yield record
