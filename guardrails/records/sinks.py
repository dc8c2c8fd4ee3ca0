"""The sinks decision and call records go to: memory, logging, a JSON Lines file.

Writing a record must never break a hook call and must not slow it down beyond what
was asked for: the recorder (records/recorder.py) swallows sink failures (and counts
them) and feeds sinks that may block from a thread of its own, and the JSON Lines
sink hands lines to a writer thread, except the records it was told to make durable,
which it writes itself before the call returns. `flush()` waits for everything
queued; `close()` flushes and stops. The records themselves are built by the runtime
(runtime/decisions.py) and carry no payload values, only what the rules decided.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Literal, Protocol

from ..runtime.decisions import BreakerRecord, CallRecord, DecisionRecord, Record

# what `JsonlSink(durable="blocks")` writes before the call returns: the verdicts an
# audit must not lose (a call record counts when the call was blocked)
DURABLE_VERDICTS = frozenset({"block", "would_block", "error"})
Durability = Literal["blocks", "all", False]
_log = logging.getLogger("guardrails.records")


class Sink(Protocol):
    """Where decision records go; `flush` may wait.

    The recorder calls `emit`, `flush` and `close` from its background thread, off
    the hook call, unless the sink has `inline = True`: then they are called in the
    hook call, and `emit` must never block (see records/recorder.py).
    """

    def emit(self, record: Record) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps records in memory (tests, notebooks); `maxlen` bounds it for long runs."""

    inline = True  # an append under a lock: its records are there when the call returns

    def __init__(self, maxlen: int | None = None) -> None:
        self._records: deque[Record] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def emit(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[DecisionRecord]:
        """The decision records (call records are in `calls`)."""
        with self._lock:
            return [r for r in self._records if isinstance(r, DecisionRecord)]

    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return [r for r in self._records if isinstance(r, CallRecord)]

    @property
    def breakers(self) -> list[BreakerRecord]:
        """Circuit breakers' changes of state (trip, probe, reset, reopen)."""
        with self._lock:
            return [r for r in self._records if isinstance(r, BreakerRecord)]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class LoggingSink:
    """One log line per record on `guardrails.decisions` (JSON in the message).

    Not inline: logging handlers can block (sockets, a full pipe), so the recorder
    calls it from its thread.
    """

    def __init__(
        self, logger: str | logging.Logger = "guardrails.decisions", level: int = logging.INFO
    ) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def emit(self, record: Record) -> None:
        if self.logger.isEnabledFor(self.level):
            self.logger.log(self.level, "%s", json.dumps(record.to_dict(), sort_keys=True))

    def flush(self) -> None:
        for handler in self.logger.handlers:
            handler.flush()

    def close(self) -> None:
        self.flush()


_STOP = object()


class JsonlSink:
    """Appends one JSON object per line to a file, mostly from a writer thread.

    `durable` says which records are written and flushed to the operating system in
    the calling thread, before the hook call returns, so that they survive the
    process being killed (`kill -9`, the OOM killer) once the caller has its verdict:

    - `"blocks"` (the default): decision records whose verdict is block,
      would_block or error, and call records of blocked calls. These are the audit
      trail a guardrail exists to keep, they are a minority of calls, and each costs
      one `write` system call (`benchmarks/bench_records.py`).
    - `"all"`: every record.
    - `False`: none; every record goes through the writer thread.

    Everything else is queued: `emit` returns at once, so a slow disk never delays a
    hook call. The writer flushes whenever its queue runs empty and at least every
    `flush_interval` seconds under sustained load; `flush()` waits for everything
    emitted so far, and open sinks flush at interpreter exit. A queued record is lost
    if the process is killed before the writer flushed it. `fsync=True` also makes
    the durable records survive an operating-system crash or power loss, at the
    price of one `fsync` per durable record. Durable records can land before queued
    records emitted earlier: read the log by `call_id` and `timestamp`, not by line
    order. A process killed mid-write can leave at most a truncated last line, which
    `read_records` skips. With `max_bytes`, the file is rotated like logging's
    RotatingFileHandler: `path` -> `path.1` -> ... `path.N`.
    """

    inline = True  # `emit` never waits on another thread: the recorder calls it in the hook call

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int | None = None,
        backups: int = 5,
        flush_interval: float = 1.0,
        durable: Durability = "blocks",
        fsync: bool = False,
    ) -> None:
        if durable not in ("blocks", "all", False):
            raise ValueError(f"durable must be 'blocks', 'all' or False, not {durable!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.backups = max(1, backups)
        self.flush_interval = flush_interval
        self.durable = durable
        self.fsync = fsync
        self._file = self.path.open("a", encoding="utf-8")
        self._size = self._file.tell()
        self._lock = threading.Lock()  # the file, its size and its rotation
        self._queue: queue.Queue[object] = queue.Queue()
        self.write_errors = 0
        self.rotations = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="guardrails-jsonl", daemon=True)
        self._thread.start()
        _open_sinks.add(self)

    def emit(self, record: Record) -> None:
        if self._closed:
            return
        if self.durable == "all" or (self.durable and _is_durable(record)):
            self._write_now(record)
        else:
            self._queue.put(record)

    def _write_now(self, record: Record) -> None:
        """Write and flush in the calling thread: on disk (or in the OS) on return."""
        try:
            line = json.dumps(record.to_dict(), sort_keys=True) + "\n"
            with self._lock:
                self._write(line)
                self._file.flush()  # the queued lines written before it go out too
                if self.fsync:
                    os.fsync(self._file.fileno())
        except Exception:  # a full disk must not break the hook call
            self._write_failed()

    def _write(self, line: str) -> None:
        self._file.write(line)
        self._size += len(line.encode())
        if self.max_bytes is not None and self._size >= self.max_bytes:
            self._rotate()

    def _write_failed(self) -> None:
        self.write_errors += 1
        if self.write_errors == 1:
            _log.exception("cannot write decision record to %s", self.path)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                continue
            try:
                if item is _STOP:
                    return
                assert isinstance(item, DecisionRecord | CallRecord | BreakerRecord)
                line = json.dumps(item.to_dict(), sort_keys=True) + "\n"
                with self._lock:
                    self._write(line)
                    now = time.monotonic()
                    if self._queue.empty() or now - last_flush >= self.flush_interval:
                        self._file.flush()
                        last_flush = now
            except Exception:  # a full disk must not kill the writer
                self._write_failed()
            finally:
                self._queue.task_done()

    def _rotate(self) -> None:
        self._file.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._file = self.path.open("a", encoding="utf-8")
        self._size = 0
        self.rotations += 1

    def flush(self) -> None:
        """Block until every record emitted so far is written to the file."""
        if self._closed:
            return
        self._queue.join()
        try:
            with self._lock:
                self._file.flush()
        except Exception:
            self.write_errors += 1

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=5)
        with self._lock:
            self._file.close()
        _open_sinks.discard(self)


def _is_durable(record: Record) -> bool:
    if isinstance(record, DecisionRecord):
        return record.verdict in DURABLE_VERDICTS
    if isinstance(record, BreakerRecord):
        return True  # rare, and what an operator must see after a crash
    return record.outcome == "block"


_open_sinks: weakref.WeakSet[JsonlSink] = weakref.WeakSet()


@atexit.register
def _close_open_sinks() -> None:
    for sink in list(_open_sinks):
        sink.close()
