"""The circuit breaker's state machine (runtime/breaker.py), on a stepped clock.

Time never passes by itself here: the clock is a number the test moves, so nothing
sleeps and nothing depends on how fast the machine is.
"""

from __future__ import annotations

import threading

import pytest

from guardrails.runtime.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    Breaker,
    BreakerConfig,
    Breakers,
    duration,
)
from guardrails.runtime.decisions import BreakerRecord


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(
    failures: int = 3, window: float = 60, cooldown: float = 30
) -> tuple[Breaker, Clock, list[BreakerRecord]]:
    clock = Clock()
    seen: list[BreakerRecord] = []
    made = Breaker("k", BreakerConfig(failures, window, cooldown), rule="r", clock=clock,
                   wall=lambda: 0.0, notify=seen.append)  # fmt: skip
    return made, clock, seen


def test_trips_after_n_failures_within_the_window_and_not_before():
    b, _clock, seen = breaker()
    b.failure("x")
    b.failure("x")
    assert b.state == CLOSED and b.allow()
    b.failure("boom")
    assert b.state == OPEN
    assert not b.allow()
    (trip,) = seen
    assert (trip.change, trip.previous, trip.state, trip.failures) == ("trip", CLOSED, OPEN, 3)
    assert (trip.rule, trip.error, trip.cooldown_ms, trip.window_ms) == ("r", "boom", 30000, 60000)


def test_failures_older_than_the_window_do_not_count():
    b, clock, _ = breaker()
    b.failure()
    b.failure()
    clock.now += 60  # both fall out of the window
    b.failure()
    b.failure()
    assert b.state == CLOSED
    b.failure()
    assert b.state == OPEN


def test_successes_while_closed_do_not_reset_the_count():
    """N failures within the window trip it, whatever succeeded in between."""
    b, _, _ = breaker()
    for _ in range(3):
        b.success()
        b.failure()
    assert b.state == OPEN


def test_open_refuses_until_the_cooldown_then_lets_exactly_one_probe_through():
    b, clock, seen = breaker()
    for _ in range(3):
        b.failure()
    clock.now += 29.9
    assert not b.allow()
    assert b.retry_in() == pytest.approx(0.1)
    clock.now += 0.1
    assert b.allow()  # the probe
    assert b.state == HALF_OPEN
    assert [b.allow() for _ in range(5)] == [False] * 5  # everyone else: still open
    assert [r.change for r in seen] == ["trip", "probe"]


def test_a_probe_that_succeeds_closes_it():
    b, clock, seen = breaker()
    for _ in range(3):
        b.failure()
    clock.now += 30
    assert b.allow()
    b.success()
    assert b.state == CLOSED
    assert all(b.allow() for _ in range(3))
    assert [r.change for r in seen] == ["trip", "probe", "reset"]
    # the count starts again from zero
    b.failure()
    b.failure()
    assert b.state == CLOSED


def test_a_probe_that_fails_reopens_it_for_a_fresh_cooldown():
    b, clock, seen = breaker()
    for _ in range(3):
        b.failure()
    clock.now += 30
    assert b.allow()
    b.failure("again")
    assert b.state == OPEN
    clock.now += 29
    assert not b.allow()  # the cooldown counts from the reopening
    clock.now += 1
    assert b.allow()
    reopen = seen[2]
    assert (reopen.change, reopen.previous, reopen.state, reopen.error) == (
        "reopen", HALF_OPEN, OPEN, "again")  # fmt: skip


def test_a_probe_that_never_reports_lets_another_probe_after_a_cooldown():
    b, clock, _ = breaker()
    for _ in range(3):
        b.failure()
    clock.now += 30
    assert b.allow()  # this prober is cancelled and never reports
    clock.now += 29
    assert not b.allow()
    clock.now += 1
    assert b.allow()
    assert not b.allow()


def test_late_failures_while_open_do_not_extend_the_cooldown():
    b, clock, seen = breaker()
    for _ in range(3):
        b.failure()
    clock.now += 20
    b.failure()  # a call let through before the trip, finishing late
    clock.now += 10
    assert b.allow()
    assert [r.change for r in seen] == ["trip", "probe"]


@pytest.mark.parametrize("round_", range(5))
def test_only_one_of_many_concurrent_callers_probes(round_):
    b, clock, seen = breaker()
    for _ in range(3):
        b.failure()
    clock.now += 30
    threads = 32
    start = threading.Barrier(threads)
    answers: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        start.wait()
        allowed = b.allow()
        with lock:
            answers.append(allowed)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(answers) == [False] * (threads - 1) + [True]
    assert [r.change for r in seen] == ["trip", "probe"]


def test_concurrent_failures_trip_it_once():
    b, _, seen = breaker(failures=5)
    threads = 40
    start = threading.Barrier(threads)

    def fail() -> None:
        start.wait()
        b.failure()

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert b.state == OPEN
    assert [r.change for r in seen] == ["trip"]


def test_open_reason_names_the_open_circuit_and_the_next_probe():
    b, clock, _ = breaker()
    for _ in range(3):
        b.failure("RuleTypeError: x")
    clock.now += 18
    reason = b.open_reason()
    assert "circuit open after 3 failures within 1m" in reason
    assert "RuleTypeError: x" in reason
    assert "in 12.0s" in reason


def test_a_listener_that_raises_does_not_break_the_breaker():
    clock = Clock()
    board = Breakers(BreakerConfig(1, 60, 30), clock=clock)

    def broken(record: BreakerRecord) -> None:
        raise RuntimeError("sink down")

    kept: list[BreakerRecord] = []
    board.listen(broken)
    board.listen(kept.append)
    b = board.get("function:search")
    b.failure()
    assert b.state == OPEN
    assert [r.change for r in kept] == ["trip"]


def test_board_get_returns_one_breaker_per_key_with_the_board_default():
    board = Breakers(BreakerConfig(2, 10, 5))
    first = board.get("function:search")
    assert board.get("function:search") is first
    assert first.config == BreakerConfig(2, 10, 5)
    assert board.get("other", BreakerConfig(7, 10, 5)).config.failures == 7
    assert Breakers().get("x").config == BreakerConfig()  # no default: the built-in one
    assert board.states() == {"function:search": CLOSED, "other": CLOSED}


def test_rule_breakers_are_keyed_by_rule_and_text_digest():
    board = Breakers()  # no default
    assert board.for_rule("r", "d1", None) is None  # no clause, no default: none
    assert board.for_rule("r", "d1", False) is None  # `breaker off`
    config = BreakerConfig(3, 60, 30)
    kept = board.for_rule("r", "d1", config)
    assert kept is not None
    assert board.for_rule("r", "d1", config) is kept  # unchanged rule: the same breaker
    assert board.for_rule("r", "d2", config) is not kept  # edited rule: a new one
    with_default = Breakers(config)
    assert with_default.for_rule("r", "d1", None) is not None
    assert with_default.for_rule("r", "d1", False) is None


def test_rule_breakers_go_away_with_the_versions_that_use_them():
    import gc

    board = Breakers()
    held = board.for_rule("r", "d1", BreakerConfig())
    assert len(board.states()) == 1
    del held
    gc.collect()
    assert board.states() == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (False, None),
        (True, BreakerConfig()),
        ({"failures": 2}, BreakerConfig(2, 60, 30)),
        ({"window_ms": 5000, "cooldown_ms": 1500}, BreakerConfig(5, 5, 1.5)),
    ],
)
def test_load_option_normal_form(value, expected):
    assert BreakerConfig.of(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"failures": 0}, "at least 1"),
        ({"failures": True}, "integer"),
        ({"window_ms": -1}, "positive"),
        ({"cooldown_ms": "30s"}, "milliseconds"),
        ({"cooldown": 3}, "unknown breaker option 'cooldown'"),
        (5, "must be None, a bool"),
    ],
)
def test_bad_load_options_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        BreakerConfig.of(value)


def test_durations_are_written_as_the_language_writes_them():
    assert [duration(s) for s in (60, 90, 3600, 1.5, 86400)] == ["1m", "90s", "1h", "1500ms", "1d"]
    assert BreakerConfig(5, 60, 30).describe() == "breaker 5 in 1m cooldown 30s"
