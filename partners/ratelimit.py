"""One rate limit per partner scope, shared by every worker, process and host.

A sliding window over the partner's one second (made ``RATE_LIMIT_MARGIN`` longer, so a
partner measuring its own second never sees more than its limit), with calls paced
evenly through it: one every window / limit, never a burst of the whole limit at once.
Pacing keeps under a partner that counts its second in smaller parts or from another
moment, and gives the same throughput. The clock is the
shared store's own (Redis TIME, PostgreSQL clock_timestamp()), not each host's, so hosts
with drifting clocks still share one budget. Redis holds the window when REDIS_URL is
set; otherwise the database does (one row per scope, locked while it is read and
written).

Redis calls time out after ``REDIS_TIMEOUT_S``: a stalled Redis raises ``Unavailable`` (a
transient error: the caller retries later), it never hangs a worker.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from .base import Transient

HISTORY_S = 60  # per-second counts kept for "used in the last minute"


class Unavailable(Transient):
    """The shared rate limiter's store did not answer (Redis down, paused or too slow)."""


def window_s() -> float:
    return 1.0 + settings.RATE_LIMIT_MARGIN


def allowed_in_window(limit_per_s: float) -> int:
    return max(1, int(limit_per_s))


def acquire(key: str, *, limit_per_s: float, max_wait_s: float | None = None) -> bool:
    """Block until a call in ``key`` may be made now; False if ``max_wait_s`` ran out first."""
    deadline = None if max_wait_s is None else time.monotonic() + max_wait_s
    while True:
        wait = try_acquire(key, limit_per_s=limit_per_s)
        if wait <= 0:
            return True
        if deadline is not None and time.monotonic() + wait > deadline:
            return False
        time.sleep(min(wait, 1.0) + 0.001)


def try_acquire(key: str, *, limit_per_s: float) -> float:
    """Take a slot if one is free (returns 0), else return the seconds until one may be."""
    return _backend().try_acquire(key, allowed_in_window(limit_per_s), window_s())


def peek_wait(key: str, *, limit_per_s: float) -> float:
    """Seconds until a slot may be free, without taking one (0: one is free now)."""
    return _backend().peek(key, allowed_in_window(limit_per_s), window_s())


def penalize(key: str, *, seconds: float) -> None:
    """The partner said "too many requests": nobody calls in this scope for ``seconds``."""
    _backend().penalize(key, seconds)


def used_per_s(key: str, *, last_s: int = HISTORY_S) -> float:
    """Average calls per second in the scope over the last ``last_s`` seconds."""
    return _backend().used(key, last_s) / last_s


@cache
def _redis_backend(url: str) -> RedisBackend:
    return RedisBackend(url)


def _backend():
    if settings.REDIS_URL:
        return _redis_backend(settings.REDIS_URL)
    return DatabaseBackend()


def _wait(hits: list[float], allowed: int, window: float, now: float) -> float:
    """Seconds until the next call may go, given the window's calls (oldest first)."""
    waits = [0.0]
    if len(hits) >= allowed:
        waits.append(hits[-allowed] + window - now)
    if hits:
        waits.append(hits[-1] + window / allowed - now)
    return max(waits)


class DatabaseBackend:
    # Models are imported where used: logging setup imports this module (through the HTTP
    # client's log filter) before Django's apps are ready.
    def _now(self) -> float:
        if connection.vendor == "postgresql":
            sql = "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8"
        else:
            sql = "SELECT (julianday('now') - 2440587.5) * 86400.0"
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return float(cursor.fetchone()[0])

    def _locked(self, key: str):
        from .models import RateBucket

        bucket = RateBucket.objects.select_for_update().filter(key=key).first()
        if bucket is None:
            RateBucket.objects.bulk_create([RateBucket(key=key)], ignore_conflicts=True)
            bucket = RateBucket.objects.select_for_update().get(key=key)
        return bucket

    def try_acquire(self, key: str, allowed: int, window: float) -> float:
        from .models import RateBucket

        with transaction.atomic():
            bucket = self._locked(key)
            now = self._now()
            if bucket.blocked_until > now:
                return bucket.blocked_until - now
            hits = [t for t in bucket.hits if t > now - window]
            wait = _wait(hits, allowed, window, now)
            if wait > 0:
                return wait
            hits.append(now)
            second = str(int(now))
            per_second = {
                s: n for s, n in bucket.per_second.items() if int(s) > now - HISTORY_S
            }
            per_second[second] = per_second.get(second, 0) + 1
            RateBucket.objects.filter(key=key).update(hits=hits, per_second=per_second)
            return 0.0

    def peek(self, key: str, allowed: int, window: float) -> float:
        from .models import RateBucket

        bucket = RateBucket.objects.filter(key=key).first()
        if bucket is None:
            return 0.0
        now = self._now()
        hits = [t for t in bucket.hits if t > now - window]
        return max(0.0, bucket.blocked_until - now, _wait(hits, allowed, window, now))

    def penalize(self, key: str, seconds: float) -> None:
        from .models import RateBucket

        with transaction.atomic():
            bucket = self._locked(key)
            until = self._now() + seconds
            if until > bucket.blocked_until:
                RateBucket.objects.filter(key=key).update(blocked_until=until)

    def used(self, key: str, last_s: int) -> int:
        from .models import RateBucket

        bucket = RateBucket.objects.filter(key=key).first()
        if bucket is None:
            return 0
        now = self._now()
        return sum(n for s, n in bucket.per_second.items() if int(s) > now - last_s)


# KEYS: window zset, blocked-until key, per-second counter prefix.
# ARGV: allowed, window seconds, unique member, history seconds.
_TRY_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then return tostring(blocked - now) end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local allowed = tonumber(ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
local wait = 0
if count >= allowed then
  local edge = redis.call('ZRANGE', KEYS[1], -allowed, -allowed, 'WITHSCORES')
  wait = tonumber(edge[2]) + window - now
end
if count > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  wait = math.max(wait, tonumber(last[2]) + window / allowed - now)
end
if wait > 0 then return tostring(wait) end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
local counter = KEYS[3] .. math.floor(now)
redis.call('INCR', counter)
redis.call('EXPIRE', counter, tonumber(ARGV[4]) + 5)
return '0'
"""

_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = tonumber(redis.call('GET', KEYS[2]) or '0') - now
local window = tonumber(ARGV[2])
local allowed = tonumber(ARGV[1])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now - window, '+inf', 'WITHSCORES')
local count = #live / 2
if count >= allowed then
  local edge = tonumber(live[(count - allowed) * 2 + 2])
  wait = math.max(wait, edge + window - now)
end
if count > 0 then
  wait = math.max(wait, tonumber(live[count * 2]) + window / allowed - now)
end
return tostring(math.max(wait, 0))
"""

_PENALIZE = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


@contextmanager
def _redis_answers():
    """Redis that is down or does not answer in time becomes ``Unavailable``."""
    import redis

    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        raise Unavailable(f"The shared rate limiter (Redis) did not answer: {error}") from error


class RedisBackend:
    def __init__(self, url: str):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries inside the client: the caller's loop retries, and a stalled Redis is
        # noticed within one timeout instead of several.
        self.client = redis.Redis.from_url(
            url, socket_timeout=settings.REDIS_TIMEOUT_S,
            socket_connect_timeout=settings.REDIS_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
        self._try = self.client.register_script(_TRY_ACQUIRE)
        self._penalize = self.client.register_script(_PENALIZE)
        self._peek = self.client.register_script(_PEEK)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"ratelimit:{key}:window", f"ratelimit:{key}:blocked", f"ratelimit:{key}:s:"]

    def try_acquire(self, key: str, allowed: int, window: float) -> float:
        with _redis_answers():
            result = self._try(keys=self._keys(key),
                               args=[allowed, window, uuid.uuid4().hex, HISTORY_S])
        return float(result)

    def peek(self, key: str, allowed: int, window: float) -> float:
        with _redis_answers():
            return float(self._peek(keys=self._keys(key)[:2], args=[allowed, window]))

    def penalize(self, key: str, seconds: float) -> None:
        with _redis_answers():
            self._penalize(keys=[self._keys(key)[1]], args=[seconds])

    def used(self, key: str, last_s: int) -> int:
        prefix = self._keys(key)[2]
        with _redis_answers():
            now = int(self.client.time()[0])
            values = self.client.mget([f"{prefix}{s}" for s in range(now - last_s + 1, now + 1)])
        return sum(int(v) for v in values if v)
