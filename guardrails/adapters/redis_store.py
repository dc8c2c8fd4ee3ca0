"""Declared states in Redis, shared by every process that names the same server.

(Being written: see docs/state.md.)
"""

from __future__ import annotations

from collections.abc import Sequence

from ..runtime.state import Reading, StateError, StateOp


class RedisStore:
    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        raise StateError("the Redis store is not available yet")

    def exchange(self, ops: Sequence[StateOp], now: float) -> list[Reading]:
        raise StateError("the Redis store is not available yet")
