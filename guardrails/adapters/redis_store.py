"""Declared states in Redis, shared by every process that names the same server.

`load(rules, state="redis://host:6379/0?namespace=shop&timeout=0.2")`. One hook call
is one round trip: a Lua script (sent once per server, then run by its SHA) does the
call's every read and update atomically, so replicas can neither both see "29 of 30"
nor lose an update. Readings equal `MemoryStore`'s for the same exchanges
(tests/test_state_stores.py):

- The arithmetic is the script's, in doubles, like Python's. (INCRBYFLOAT adds in
  long double: with it 0.1 + 0.2 would read 0.3, and 0.30000000000000004 in memory.)
  Totals travel as `%.17g` text, which a double survives exactly.
- When a key lapses is reckoned on the caller's clock, as in memory: each key holds
  its end (`e`), and the script treats a key past it as absent and deletes it. The
  server's own TTL (PEXPIRE, the same lifetime counted from when the server sees the
  call) only collects keys nobody asks for again; relative, so a server whose clock
  differs from the callers' neither drops keys early nor keeps them long.

A key is a hash {v: total or run length, e: end, d: a streak's last value digest}
named `op.storage_key(namespace, now)`: `<namespace>:<state>:<declaration
digest>:<key>[:<window>]`. Give each ruleset its own namespace on a shared server.

Failure: any Redis error or timeout is a `StateError`, so the call's stateful rules
fail closed. The socket and connect timeouts default to `DEFAULT_TIMEOUT` seconds
(a hung server costs a call at most that, per connection attempt and per reply) and
nothing is retried: a call that cannot reach Redis fails at once. The connection
pool replaces a connection the server closed before reusing it, so the first call
after Redis comes back is served.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..extras import missing_extra

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.exceptions import NoScriptError, RedisError
    from redis.retry import Retry
except ImportError as err:  # name the extra to install, not a module deep inside
    raise missing_extra(
        "redis", "the Redis state store (guardrails.adapters.redis_store)", err
    ) from None

from ..diagnostics import GuardrailsError
from ..runtime.state import Reading, StateError, StateOp

DEFAULT_NAMESPACE = "guardrails"
# seconds, for one connection attempt and for one reply: below the rules' default time
# budget of 250 ms per hook call, so a slow Redis reads as itself, not as a slow rule
DEFAULT_TIMEOUT = 0.2

# KEYS: one per op. ARGV: now, then per op: kind (c|s), update (1|0), amount,
# streak digest, end, server TTL (ms). Returns each op's reading as text.
EXCHANGE = """
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local a = 2 + (i - 1) * 6
  local kind, update, digest, ends = ARGV[a], ARGV[a + 1], ARGV[a + 3], ARGV[a + 4]
  local h = redis.call('HMGET', key, 'v', 'e', 'd')
  local value, last = 0, false
  if h[1] then
    if tonumber(h[2]) > now then
      value, last = tonumber(h[1]), h[3]
    else
      redis.call('DEL', key)
    end
  end
  if kind == 's' and last ~= digest then
    out[i] = '0'
  else
    out[i] = string.format('%.17g', value)
  end
  if update == '1' then
    if kind == 'c' then
      value = value + tonumber(ARGV[a + 2])
      redis.call('HSET', key, 'v', string.format('%.17g', value), 'e', ends)
    else
      if last == digest then value = value + 1 else value = 1 end
      redis.call('HSET', key, 'v', value, 'e', ends, 'd', digest)
    end
    redis.call('PEXPIRE', key, ARGV[a + 5])
  end
end
return out
"""


class RedisStore:
    """The `Store` of `guardrails.runtime.state` on a Redis server.

    `client` is a `redis.Redis` (give it short timeouts and no retries, as `from_url`
    does). Safe to share between threads: redis-py's pool gives each concurrent
    exchange its own connection. An exchange blocks its thread for the round trip;
    in an event loop that is the loop's thread, for at most the timeout.
    """

    def __init__(self, client: redis.Redis, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.client = client
        self.namespace = namespace
        self.sha = _sha1(EXCHANGE)
        kwargs = client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        self.where = f"Redis at {where}"

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """`redis://[user:password@]host[:port][/db][?namespace=x&timeout=seconds]`
        (also `rediss://` for TLS and `unix:///path.sock?db=0`). Other query
        parameters go to redis-py. Connects on the first exchange, not here: a server
        that is down at start-up fails calls, not the load. A URL it cannot use is a
        `GuardrailsError`."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        namespace = query.pop("namespace", DEFAULT_NAMESPACE)
        if not namespace:
            raise GuardrailsError(f"{_safe(url)}: namespace must not be empty")
        try:
            timeout = float(query.pop("timeout", DEFAULT_TIMEOUT))
        except ValueError:
            raise GuardrailsError(f"{_safe(url)}: timeout must be a number of seconds") from None
        if not (math.isfinite(timeout) and timeout > 0):
            raise GuardrailsError(f"{_safe(url)}: timeout must be a positive number of seconds")
        rest = urlunsplit(parts._replace(query=urlencode(query)))
        try:
            client = redis.Redis.from_url(
                rest,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except (ValueError, RedisError) as err:
            raise GuardrailsError(f"{_safe(url)}: not a Redis URL we can use: {err}") from None
        return cls(client, namespace)

    def exchange(self, ops: Sequence[StateOp], now: float) -> list[Reading]:
        if not ops:
            return []
        keys: list[str] = []
        args: list[Any] = [repr(float(now))]
        for op in ops:
            keys.append(op.storage_key(self.namespace, now))
            end = op.expires(now)
            args += [
                "c" if op.spec.kind == "counter" else "s",
                "1" if op.update else "0",
                repr(float(op.amount)),
                op.value or "",
                repr(float(end)),
                max(math.ceil((end - now) * 1000), 1),
            ]
        try:
            try:
                raw = self.client.evalsha(self.sha, len(keys), *keys, *args)
            except NoScriptError:  # a new or restarted server: EVAL caches the script
                raw = self.client.eval(EXCHANGE, len(keys), *keys, *args)
        except RedisError as err:
            raise StateError(_failure(self.where, err)) from err
        except OSError as err:
            raise StateError(_failure(self.where, err)) from err
        readings: list[Reading] = []
        for op, text in zip(ops, raw, strict=True):
            value = float(text)
            if op.spec.every is not None:
                readings.append(Reading(value, op.expires(now)))
            else:
                readings.append(Reading(int(value) if op.spec.kind == "streak" else value))
        return readings

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.where}, namespace={self.namespace!r})"


def _failure(where: str, err: BaseException) -> str:
    kind = type(err).__name__
    text = str(err) or kind
    if isinstance(err, redis.AuthenticationError | redis.exceptions.NoPermissionError):
        return (
            f"state store {where} refused our credentials ({text}); the stateful rules fail closed"
        )
    if isinstance(err, redis.TimeoutError):
        return (
            f"state store {where} did not answer in time ({text}); the stateful rules fail closed"
        )
    if isinstance(err, redis.ConnectionError | OSError):
        return f"state store {where} is unreachable ({text}); the stateful rules fail closed"
    return f"state store {where} failed: {kind}: {text}; the stateful rules fail closed"


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
