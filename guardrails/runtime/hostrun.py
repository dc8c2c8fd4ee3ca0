"""Running one host function call under a timeout, sync or async, without blocking a loop.

A sync function runs in a worker thread and the rule waits for it with a timeout. Python
cannot kill a thread: a function that hangs past its timeout is *abandoned*, not
stopped (its worker stays busy until it returns, and a new worker takes the next call).
Workers are daemon threads, so a hung one never holds up interpreter exit.

An async function runs on the host's event loop when the rules run inside an async
host: the host adapter runs the engine in a thread (`offload`) and records its loop,
and the coroutine is scheduled back onto that loop, so the loop keeps serving other
tasks while the function awaits. A sync caller (`Policy.evaluate`) has no host loop:
the coroutine then runs on the process's private loop, on a daemon thread of its own
(one loop for every call, so an async client a function keeps stays on its loop).

While a host function runs, the context says so (`inside`): a host whose hooks are
global (Mellea's plugins fire for every session) may then be asked to guard the
function's own model call, and the adapters let such a call through rather than
judge the judge's call (which would recurse).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # asyncio is imported where a coroutine is run: not every host has one
    import asyncio

T = TypeVar("T")

# the event loop of the async host whose hook call the rules are running for
HOST_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "guardrails_host_loop", default=None
)
# the host function tables (one per policy) whose functions are running in this context
_ACTIVE: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "guardrails_host_functions", default=frozenset()
)
_MAX_IDLE = 8


def inside(table: object) -> bool:
    """Is a host function of `table` (a policy's functions) running in this context?"""
    return table is not None and id(table) in _ACTIVE.get()


async def offload(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` (the engine, for one hook call) in a thread, with this loop as
    the host loop its async host functions are scheduled on."""
    import asyncio

    token = HOST_LOOP.set(asyncio.get_running_loop())
    try:
        return await asyncio.to_thread(fn, *args)
    finally:
        HOST_LOOP.reset(token)


class _Worker(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="guardrails-host-function", daemon=True)
        self.inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            self.inbox.get()()
            with _LOCK:
                if len(_IDLE) >= _MAX_IDLE:
                    return
                _IDLE.append(self)


_LOCK = threading.Lock()
_IDLE: list[_Worker] = []


def _submit(job: Callable[[], T]) -> concurrent.futures.Future[T]:
    """`job()` on a worker thread, in a copy of the caller's context."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    ctx = contextvars.copy_context()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(ctx.run(job))
        except BaseException as err:  # handed to the waiting rule
            future.set_exception(err)

    with _LOCK:
        worker = _IDLE.pop() if _IDLE else None
    if worker is None:
        worker = _Worker()
        worker.inbox.put(run)
        worker.start()
    else:
        worker.inbox.put(run)
    return future


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    import asyncio

    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def call(
    table: object,
    sync: Callable[..., Any] | None,
    async_: Callable[..., Awaitable[Any]] | None,
    args: tuple[Any, ...],
    timeout: float,
    inline: bool = False,
) -> Any:
    """The function's result; raises TimeoutError after `timeout` seconds, or what the
    function raised. `async_` is preferred on a host loop, `sync` everywhere else;
    `inline`: `sync` in this thread, with no timeout."""
    loop = HOST_LOOP.get()
    on_host = loop is not None and loop.is_running() and not _on_loop_thread(loop)
    token = _ACTIVE.set(_ACTIVE.get() | {id(table)})
    try:
        if inline and sync is not None:
            return sync(*args)
        if async_ is not None and (on_host or sync is None):
            if not on_host:
                loop = _private_loop()
            if loop is None or _on_loop_thread(loop):  # called from that loop itself
                return _fresh_loop(async_, args, timeout)
            import asyncio

            future = asyncio.run_coroutine_threadsafe(_awaited(async_, args), loop)
            try:
                return future.result(timeout)
            except TimeoutError:
                future.cancel()
                raise
        assert sync is not None
        return _submit(lambda: sync(*args)).result(timeout)
    finally:
        _ACTIVE.reset(token)


async def _awaited(fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> Any:
    return await fn(*args)


_PRIVATE: dict[int, asyncio.AbstractEventLoop] = {}  # process id -> its private loop


def _private_loop() -> asyncio.AbstractEventLoop:
    """The loop coroutines run on when no host loop is there (a sync caller): one per
    process, on a daemon thread, so an async client a function keeps stays on one loop."""
    with _LOCK:
        loop = _PRIVATE.get(os.getpid())  # a forked child starts its own
        if loop is None or loop.is_closed():
            import asyncio

            loop = _PRIVATE[os.getpid()] = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="guardrails-host-loop", daemon=True
            )
            thread.start()
        return loop


def _fresh_loop(fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], timeout: float) -> Any:
    """A coroutine that cannot wait on the loop it was called from: a fresh loop in a
    worker, cancelled there at the timeout (the outer wait is the backstop for a
    coroutine that blocks its loop)."""

    def run() -> Any:
        import asyncio

        return asyncio.run(asyncio.wait_for(_awaited(fn, args), timeout))

    return _submit(run).result(timeout + 0.05)
