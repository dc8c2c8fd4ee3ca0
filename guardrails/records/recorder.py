"""The recorder: hands a hook call's records to the policy's sinks.

A sink runs outside the rules' time budget, so a sink that waits (on a network
collector, a logging handler writing to a full pipe) must not make the guarded call
wait. Sinks that declare `inline = True` promise an `emit` that never blocks
(`MemorySink` appends, `JsonlSink` enqueues, or writes its durable records on
purpose before the call returns) and are called in the hook call. Every other sink,
`LoggingSink` and custom sinks included, is fed by a thread of its own through a
bounded queue: when that queue is full, records are dropped and counted instead of
making the caller wait, and a sink that hangs holds back only itself. A deferred
sink sees all its calls (`emit`, `flush`, `close`) from its thread, in order, so it
need not be thread-safe.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..runtime.decisions import DecisionRecord
from ..runtime.reasons import Reason
from .capture import logged_reason, private_paths

DEFAULT_PRIVATE = private_paths(None)

if TYPE_CHECKING:
    from ..runtime.decisions import Record
    from .sinks import Sink

_log = logging.getLogger("guardrails.records")
EXIT_TIMEOUT = 5.0  # seconds deferred sinks get to take their records at interpreter exit


class _Marker:
    """Put in a queue behind the records it must wait for."""

    def __init__(self, method: str) -> None:
        self.method = method  # "flush" or "close"
        self.done = threading.Event()


class _Feeder:
    """One deferred sink, its bounded queue and the thread that feeds it."""

    def __init__(self, sink: Sink, recorder: Recorder, max_pending: int) -> None:
        self.sink = sink
        self.recorder = recorder
        self.queue: queue.Queue[tuple[Record, ...] | _Marker] = queue.Queue(max_pending)
        self.thread = threading.Thread(target=self._run, name="guardrails-sink", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if isinstance(item, _Marker):
                _call(self.sink, item.method)
                item.done.set()
                if item.method == "close":
                    self._drain()
                    return
                continue
            for record in item:
                try:
                    self.sink.emit(record)
                except Exception:
                    self.recorder._drop(1, f"decision sink {self.sink!r} failed", exc=True)

    def _drain(self) -> None:
        """After close: release flushes that raced it, count records that did."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Marker):
                item.done.set()
            else:
                self.recorder._drop(len(item), "records emitted after close()")

    def put(self, batch: tuple[Record, ...]) -> None:
        try:
            self.queue.put_nowait(batch)
        except queue.Full:
            self.recorder._drop(len(batch), f"decision sink {self.sink!r} fell behind")

    def mark(self, method: str, deadline: float | None) -> _Marker | None:
        """Queue `method` behind the records already queued; None if it did not fit."""
        marker = _Marker(method)
        try:
            self.queue.put(marker, timeout=_left(deadline))
        except queue.Full:
            return None
        return marker


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class Recorder:
    """Fans records out to sinks; a failing or slow sink is counted, never felt.

    `dropped` counts (record, sink) pairs a sink did not get: it raised, or its queue
    already held `max_pending` hook calls' records. `flush()` returns once every sink
    has everything emitted before it was called.
    """

    def __init__(
        self,
        sinks: Sequence[Sink] = (),
        *,
        max_pending: int = 10_000,
        private: tuple[tuple[str, ...], ...] = DEFAULT_PRIVATE,
    ) -> None:
        self.sinks = tuple(sinks)
        self.private = private  # fact paths whose text a reason must not carry into a sink
        self.inline = tuple(s for s in self.sinks if getattr(s, "inline", False) is True)
        self.deferred = tuple(s for s in self.sinks if all(s is not i for i in self.inline))
        self.dropped = 0
        self._lock = threading.Lock()
        self._closed = False
        self._feeders = tuple(_Feeder(s, self, max_pending) for s in self.deferred)
        if self._feeders:
            _open_recorders.add(self)

    def __bool__(self) -> bool:
        return bool(self.sinks)

    def emit(self, records: Iterable[Record]) -> None:
        """Never raises and never waits on a deferred sink."""
        batch = records if isinstance(records, tuple) else tuple(records)
        if any(isinstance(getattr(r, "reason", None), Reason) for r in batch):
            batch = tuple(self._logged(r) for r in batch)
        for record in batch:
            for sink in self.inline:
                try:
                    sink.emit(record)
                except Exception:
                    self._drop(1, f"decision sink {sink!r} failed", exc=True)
        if not self._feeders or not batch:
            return
        if self._closed:
            self._drop(len(batch) * len(self._feeders), "records emitted after close()")
            return
        for feeder in self._feeders:
            feeder.put(batch)

    def _logged(self, record: Record) -> Record:
        """A decision as the log writes it: an error's message is in its reason too."""
        if not isinstance(record, DecisionRecord) or not isinstance(record.reason, Reason):
            return record
        reason = logged_reason(record.reason, self.private)
        error = record.error
        if isinstance(error, Reason):
            error = logged_reason(error, self.private)
        return dataclasses.replace(record, reason=reason, error=error)

    def _drop(self, n: int, why: str, exc: bool = False) -> None:
        with self._lock:
            first = self.dropped == 0
            self.dropped += n
        if first:
            _log.warning("%s; dropping records (counted in recorder.dropped)", why, exc_info=exc)

    def _after_queued(self, method: str, timeout: float | None) -> bool:
        """Run `method` on each deferred sink behind its queued records; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        markers = [feeder.mark(method, deadline) for feeder in self._feeders]
        return all(m is not None and m.done.wait(_left(deadline)) for m in markers)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every sink has every record emitted so far, then flush it.

        Returns False if `timeout` (seconds) ran out first.
        """
        for sink in self.inline:
            _call(sink, "flush")
        return True if self._closed else self._after_queued("flush", timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush and close every sink; the deferred ones after their queued records."""
        for sink in self.inline:
            _call(sink, "close")
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        _open_recorders.discard(self)
        return self._after_queued("close", timeout)


def _call(sink: Sink, method: str) -> None:
    try:
        getattr(sink, method)()
    except Exception:
        _log.exception("decision sink %r failed to %s", sink, method)


_open_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _flush_open_recorders() -> None:
    """Deferred sinks get their queued records at exit, without hanging it forever."""
    deadline = time.monotonic() + EXIT_TIMEOUT
    for recorder in list(_open_recorders):
        if not recorder.flush(timeout=_left(deadline)):
            _log.warning("decision sinks did not take their records within %s s", EXIT_TIMEOUT)
