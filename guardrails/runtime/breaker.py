"""Circuit breakers: something that keeps failing is not called for a while.

A rule whose evaluation fails (a host function timing out, a model that cannot be
reached, the time budget run over) costs every call its full timeout and then fails
closed anyway. After `failures` failures within `window` seconds its breaker opens:
the rule is not run, and each call takes the rule's `on_error` outcome at once. After
`cooldown` seconds one call (exactly one, however many arrive together) probes: its
success closes the breaker, its failure opens it for a fresh cooldown.

The breaker never decides an outcome itself, it only says whether to make the call;
the engine turns "not allowed" into an `error` verdict, so an open breaker fails
closed exactly like the failure it stands for. Every change of state is a
`BreakerRecord` handed to the board's listeners (a policy's recorder).

Standard library only. The clock is injectable (monotonic seconds), so tests step
time instead of sleeping.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .decisions import BreakerRecord

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

Clock = Callable[[], float]
Listener = Callable[[BreakerRecord], None]


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """`failures` failures within `window` seconds open it for `cooldown` seconds."""

    failures: int = 5
    window: float = 60.0
    cooldown: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.failures, bool) or not isinstance(self.failures, int):
            raise ValueError(f"breaker failures must be an integer, got {self.failures!r}")
        if self.failures < 1:
            raise ValueError(f"breaker failures must be at least 1, got {self.failures}")
        for name in ("window", "cooldown"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"breaker {name} must be a positive number of seconds")

    @classmethod
    def of(cls, value: object) -> BreakerConfig | None:
        """The `breaker=` load option in its normal form: None or False: no breaker for
        rules without a `breaker` clause; True: the defaults; a mapping with
        `failures`, `window_ms`, `cooldown_ms` (each optional); or a BreakerConfig."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, BreakerConfig):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"failures", "window_ms", "cooldown_ms"})
            if unknown:
                raise ValueError(
                    f"unknown breaker option {unknown[0]!r} "
                    "(options: failures, window_ms, cooldown_ms)"
                )
            base = cls()
            window = value.get("window_ms")
            cooldown = value.get("cooldown_ms")
            return cls(
                value.get("failures", base.failures),
                _seconds(window, "window_ms") if window is not None else base.window,
                _seconds(cooldown, "cooldown_ms") if cooldown is not None else base.cooldown,
            )
        raise ValueError(
            f"breaker must be None, a bool, a mapping or a BreakerConfig, got {value!r}"
        )

    def describe(self) -> str:
        """As the language writes it: `breaker 5 in 1m cooldown 30s`."""
        return (
            f"breaker {self.failures} in {duration(self.window)} cooldown {duration(self.cooldown)}"
        )


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"breaker {name} must be a number of milliseconds, got {value!r}")
    return value / 1000


def duration(seconds: float) -> str:
    """Seconds as the language writes them, in the largest whole unit: 120 -> `2m`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


class Breaker:
    """One breaker. `allow()` before the call; then `success()` or `failure()`.

    Thread-safe. Closed, the common state, costs one attribute read per method and
    no lock. A probe that never reports (its caller cancelled) holds the half-open
    state for one cooldown at most; then the next caller probes instead.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_failures",
        "_last_error",
        "_lock",
        "_notify",
        "_opened",
        "_probe_started",
        "_tripped_with",
        "_wall",
        "config",
        "key",
        "rule",
        "state",
    )  # fmt: skip

    def __init__(
        self,
        key: str,
        config: BreakerConfig,
        *,
        rule: str | None = None,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        notify: Listener | None = None,
    ) -> None:
        self.key = key
        self.rule = rule
        self.config = config
        self.state = CLOSED
        self._clock = clock
        self._wall = wall
        self._notify = notify
        self._lock = threading.Lock()
        self._failures: deque[float] = deque()
        self._opened = 0.0
        self._probe_started = 0.0
        self._last_error: str | None = None
        self._tripped_with = 0

    def allow(self, *, hook: str | None = None, request_id: object = None) -> bool:
        """May the call be made? False while open, and for everyone but the one
        prober while half-open."""
        if self.state is CLOSED:
            return True
        with self._lock:
            now = self._clock()
            if self.state is OPEN:
                if now < self._opened + self.config.cooldown:
                    return False
                self.state = HALF_OPEN
                self._probe_started = now
                record = self._record("probe", OPEN, 0, None, hook, request_id)
            elif self.state is HALF_OPEN:
                if now < self._probe_started + self.config.cooldown:
                    return False
                self._probe_started = now  # the last probe never reported: probe again
                return True
            else:
                return True
        self._emit(record)
        return True

    def success(self, *, hook: str | None = None, request_id: object = None) -> None:
        if self.state is CLOSED:
            return
        with self._lock:
            if self.state is not HALF_OPEN:
                return  # a call let through before the trip finished late
            self.state = CLOSED
            self._failures.clear()
            record = self._record("reset", HALF_OPEN, 0, None, hook, request_id)
        self._emit(record)

    def failure(
        self, error: str | None = None, *, hook: str | None = None, request_id: object = None
    ) -> None:
        with self._lock:
            now = self._clock()
            if self.state is HALF_OPEN:
                self.state = OPEN
                self._opened = now
                self._last_error = error
                record = self._record("reopen", HALF_OPEN, 1, error, hook, request_id)
            elif self.state is CLOSED:
                failures = self._failures
                failures.append(now)
                while failures and failures[0] <= now - self.config.window:
                    failures.popleft()
                if len(failures) < self.config.failures:
                    return
                self._tripped_with = len(failures)
                failures.clear()
                self.state = OPEN
                self._opened = now
                self._last_error = error
                record = self._record("trip", CLOSED, self._tripped_with, error, hook, request_id)
            else:
                return  # already open: a late failure does not extend the cooldown
        self._emit(record)

    def retry_in(self) -> float:
        """Seconds until the next probe may start (0 unless open)."""
        if self.state is not OPEN:
            return 0.0
        return max(0.0, self._opened + self.config.cooldown - self._clock())

    def open_reason(self) -> str:
        """Why a call was not made, for the verdict: the open circuit and when it
        probes again (never the failure's payload values: errors name types)."""
        cfg = self.config
        if self.state is OPEN:
            when = f"the next call in {self.retry_in():.1f}s probes it"
        else:  # refused while half-open (the probe may have ended since)
            when = "a probe call is under way"
        cause = f" (last: {self._last_error})" if self._last_error else ""
        return (
            f"circuit open after {self._tripped_with} failures within {duration(cfg.window)}"
            f"{cause}; {when}"
        )

    def _record(
        self,
        change: str,
        previous: str,
        failures: int,
        error: str | None,
        hook: str | None,
        request_id: object,
    ) -> BreakerRecord:
        cfg = self.config
        opened = self.state is OPEN
        return BreakerRecord(
            breaker=self.key,
            rule=self.rule,
            change=change,
            previous=previous,
            state=self.state,
            failures=failures,
            window_ms=cfg.window * 1000,
            cooldown_ms=cfg.cooldown * 1000,
            retry_in_ms=cfg.cooldown * 1000 if opened else None,
            error=error,
            hook=hook,
            request_id=request_id if isinstance(request_id, str) and request_id else None,
            time=self._wall(),
        )

    def _emit(self, record: BreakerRecord) -> None:
        if self._notify is not None:
            with contextlib.suppress(Exception):  # recording must not change the call
                self._notify(record)

    def __repr__(self) -> str:
        return f"<Breaker {self.key} {self.state}>"


class Breakers:
    """The board: every breaker of one loaded policy, by key, kept across reloads.

    `default` is the configuration of rules without a `breaker` clause (None: they
    have none). Rule breakers are keyed by the rule's id and a digest of its text, so
    a reload keeps the breaker of an unchanged rule and an edited rule starts closed;
    they are held weakly (the compiled versions that run them keep them alive). A
    breaker from `get` (a host function's, say) is held as long as the board.
    """

    def __init__(
        self,
        default: BreakerConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        self.default = default
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._named: dict[str, Breaker] = {}
        self._rules: weakref.WeakValueDictionary[str, Breaker] = weakref.WeakValueDictionary()
        self._listeners: list[Listener] = []

    def get(self, key: str, config: BreakerConfig | None = None) -> Breaker:
        """The breaker for `key` (made on first use, with `config` or the default's
        thresholds, or the built-in ones when the board has no default)."""
        with self._lock:
            found = self._named.get(key)
            if found is None:
                found = self._named[key] = self._new(key, config or self.default or BreakerConfig())
            return found

    def for_rule(
        self, rule: str, digest: str, declared: BreakerConfig | bool | None
    ) -> Breaker | None:
        """A rule's breaker: `declared` is its clause (a config, False for
        `breaker off`, None for no clause: the board's default, if any)."""
        config = self.default if declared is None else None if declared is False else declared
        if not isinstance(config, BreakerConfig):
            return None
        key = f"rule:{rule}@{digest[:16]}"
        with self._lock:
            found = self._rules.get(key)
            if found is None or found.config != config:
                found = self._new(key, config, rule)
                self._rules[key] = found
            return found

    def listen(self, listener: Listener) -> None:
        """Call `listener(record)` on every change of state of every breaker here."""
        with self._lock:
            self._listeners.append(listener)

    def states(self) -> dict[str, str]:
        """Every live breaker's state, by key (for an operator's status page)."""
        with self._lock:
            found = {**dict(self._rules.items()), **self._named}
        return {key: b.state for key, b in sorted(found.items())}

    def _new(self, key: str, config: BreakerConfig, rule: str | None = None) -> Breaker:
        return Breaker(key, config, rule=rule, clock=self.clock, wall=self.wall,
                       notify=self._notify)  # fmt: skip

    def _notify(self, record: BreakerRecord) -> None:
        for listener in tuple(self._listeners):
            with contextlib.suppress(Exception):  # one broken listener starves no other
                listener(record)

    def __repr__(self) -> str:
        return f"<Breakers {len(self._rules) + len(self._named)} breakers>"
