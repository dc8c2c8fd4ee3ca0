"""The store contract: `MemoryStore` and `RedisStore` (on a real redis-server) give the
same readings for the same exchanges, step by step, on the caller's clock."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrails.adapters.redis_store import RedisStore
from guardrails.runtime.state import (
    MemoryStore,
    Reading,
    StateFull,
    StateOp,
    StateSpec,
    encode_key,
    value_digest,
)
from guardrails.runtime.state_keys import _plain

HOUR = StateSpec("tokens", "counter", 3600.0, 3600.0, 10.0, "d1")
RUNNING = StateSpec("spend", "counter", None, 60.0, None, "d2")
STREAK = StateSpec("repeat", "streak", None, 60.0, None, "d3")
T = 472222 * 3600.0  # an hour boundary: 2023-11-14T22:00:00Z


def add(spec: StateSpec, amount: float, key: str = '["u1"]', read: bool = True) -> StateOp:
    return StateOp(spec, key, read, amount, None, True)


def track(value: str, key: str = '["s1"]') -> StateOp:
    return StateOp(STREAK, key, True, 0.0, value, True)


def read(spec: StateSpec, key: str = '["u1"]', value: str | None = None) -> StateOp:
    return StateOp(spec, key, True, 0.0, value, False)


# (seconds after T, the exchange's ops, the readings: values before this exchange)
STEPS: list[tuple[float, list[StateOp], list[Reading]]] = [
    # nothing yet; a windowed reading says when its window ends
    (10, [add(HOUR, 2.5), add(RUNNING, 0.1), track("a")],
     [Reading(0, T + 3600), Reading(0), Reading(0)]),
    # floats add as Python's do (not as Redis's INCRBYFLOAT, which would say 0.3)
    (20, [add(HOUR, 0.2), add(RUNNING, 0.2), track("a")],
     [Reading(2.5, T + 3600), Reading(0.1), Reading(1)]),
    (30, [read(HOUR), read(RUNNING), track("a"), add(HOUR, -1.0, key='["u2"]')],
     [Reading(2.7, T + 3600), Reading(0.30000000000000004), Reading(2), Reading(0, T + 3600)]),
    # a different value restarts the streak; read with another value it says 0
    (40, [track("b")], [Reading(0)]),
    (41, [read(STREAK, '["s1"]', "b"), read(STREAK, '["s1"]', "a")], [Reading(1), Reading(0)]),
    (42, [track("b")], [Reading(1)]),
    (43, [track("a")], [Reading(0)]),
    # keys are independent; a negative amount counts too
    (50, [read(HOUR, '["u2"]'), read(HOUR, '["u3"]')],
     [Reading(-1.0, T + 3600), Reading(0, T + 3600)]),
    # a read does not refresh a key: RUNNING was last updated at 20 and keeps 60 s
    (79, [read(RUNNING)], [Reading(0.30000000000000004)]),
    (80, [read(RUNNING), read(STREAK, '["s1"]', "a")], [Reading(0), Reading(1)]),
    # ...and one that lapsed starts again from nothing
    (81, [add(RUNNING, 1e16), add(RUNNING, 1.5, key='["u9"]')], [Reading(0), Reading(0)]),
    (82, [add(RUNNING, 1.5)], [Reading(1e16)]),
    (83, [read(RUNNING)], [Reading(1.0000000000000002e16)]),
    # the streak's last update (43) keeps it until 103
    (102, [read(STREAK, '["s1"]', "a")], [Reading(1)]),
    (103, [track("a")], [Reading(0)]),
    # the window rolls over at T + 3600: a new total, a new end
    (3599.5, [add(HOUR, 1)], [Reading(2.7, T + 3600)]),
    (3600, [add(HOUR, 1)], [Reading(0, T + 7200)]),
    (3601, [read(HOUR), read(HOUR, '["u2"]')], [Reading(1, T + 7200), Reading(0, T + 7200)]),
]  # fmt: skip


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    server = request.getfixturevalue("redis_server")
    redis_store = RedisStore.from_url(f"{server.url}?namespace=t-{uuid.uuid4().hex[:8]}")
    try:
        yield redis_store
    finally:
        redis_store.close()


def test_both_stores_read_the_same_values_exchange_by_exchange(store):
    for offset, ops, expected in STEPS:
        got = store.exchange(ops, T + offset)
        assert got == expected, (offset, got)


def test_streak_readings_are_whole_numbers_and_counter_readings_exact(store):
    assert store.exchange([track("x", '["k"]')], T) == [Reading(0)]
    readings = store.exchange([track("x", '["k"]'), add(RUNNING, 1 / 3, '["k"]')], T + 1)
    assert readings == [Reading(1), Reading(0)]
    assert store.exchange([read(RUNNING, '["k"]')], T + 2)[0].value == 1 / 3


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.lists(values, max_size=3).map(tuple))
def test_keys_are_the_canonical_json_of_their_values(key):
    # what every store and replica must agree on (the fast path for ids included)
    def slow(value: Any) -> str:
        return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), allow_nan=False)

    try:
        text = slow(key)
    except ValueError:  # NaN or infinity: no stable text, the state's rules fail closed
        with pytest.raises(ValueError):
            encode_key(key)
        return
    expected = text if len(text) <= 160 else "#" + hashlib.sha256(text.encode()).hexdigest()[:32]
    assert encode_key(key) == expected
    assert value_digest(list(key)) == hashlib.sha256(slow(list(key)).encode()).hexdigest()[:24]


def test_a_full_memory_store_refuses_the_whole_exchange():
    store = MemoryStore(max_keys=2)
    assert store.exchange([add(RUNNING, 1, '["a"]')], T) == [Reading(0)]
    # two new keys, room for one: neither is added, the known key is not updated
    ops = [add(RUNNING, 1, '["a"]'), add(RUNNING, 1, '["b"]'), add(RUNNING, 1, '["c"]')]
    with pytest.raises(StateFull, match="2 live keys"):
        store.exchange(ops, T + 1)
    assert len(store) == 1 and store.exchange([read(RUNNING, '["a"]')], T + 2) == [Reading(1)]
    # keys that lapsed make room
    assert store.exchange(ops[1:], T + 61) == [Reading(0), Reading(0)]
    assert len(store) == 2
