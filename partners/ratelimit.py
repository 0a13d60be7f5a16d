"""One rate limit per partner scope, shared by every worker, process and host.

A sliding window over the partner's one second (made ``RATE_LIMIT_MARGIN`` longer, so a
partner measuring its own second never sees more than its limit), with calls paced
evenly through it: one every window / limit, never a burst of the whole limit at once.
Pacing keeps under a partner that counts its second in smaller parts or from another
moment, and gives the same throughput.

A scope may also have a minute and a day budget (TikTok's app tiers). Those are counters
per calendar window (the day starting at 00:00 UTC, as the partner counts it), one number
per window instead of a log of every call. A spent budget holds the scope until its window
ends: ``acquire`` raises ``ScopePaused`` rather than keep a worker asleep for hours.

The windows' lengths and a shift added to the store's clock are settings
(``RATE_LIMIT_MINUTE_S``, ``RATE_LIMIT_DAY_S``, ``RATE_LIMIT_CLOCK_SHIFT_S``), so that
tests reach the next minute or day without waiting: time control cannot move the store's
own clock. The clock is the
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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from .base import Transient

HISTORY_S = 60  # per-second counts kept for "used in the last minute"


class Unavailable(Transient):
    """The shared rate limiter's store did not answer (Redis down, paused or too slow)."""


class ScopePaused(Transient):
    """The scope's budget is spent for longer than a worker should sleep (a minute or day
    budget, or a long penalty): no call was made; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Window:
    """A budget counted per calendar window: ``allowed`` calls per ``length`` seconds."""

    name: str  # "minute", "day"
    length: float
    allowed: int


@dataclass(frozen=True)
class WindowUse:
    name: str
    allowed: int
    used: int
    resets_at: datetime


@dataclass(frozen=True)
class ScopeState:
    """A scope's budgets as the store counts them now, for status pages."""

    windows: list[WindowUse]
    paused_until: datetime | None  # a spent minute or day budget, or a long penalty


def window_s() -> float:
    return 1.0 + settings.RATE_LIMIT_MARGIN


def allowed_in_window(limit_per_s: float) -> int:
    return max(1, int(limit_per_s))


def windows(*, per_min: int | None = None, per_day: int | None = None) -> list[Window]:
    """The counted windows of a scope with these budgets (None: no such budget)."""
    found = [Window("minute", settings.RATE_LIMIT_MINUTE_S, per_min),
             Window("day", settings.RATE_LIMIT_DAY_S, per_day)]
    return [w for w in found if w.allowed is not None]


def acquire(key: str, *, limit_per_s: float, per_min: int | None = None,
            per_day: int | None = None, max_wait_s: float | None = None) -> bool:
    """Block until a call in ``key`` may be made now; False if ``max_wait_s`` ran out first.

    Without ``max_wait_s``, a wait longer than ``RATE_LIMIT_MAX_SLEEP_S`` (a spent minute
    or day budget) raises ``ScopePaused`` instead of sleeping through it.
    """
    deadline = None if max_wait_s is None else time.monotonic() + max_wait_s
    while True:
        wait = try_acquire(key, limit_per_s=limit_per_s, per_min=per_min, per_day=per_day)
        if wait <= 0:
            return True
        if deadline is not None and time.monotonic() + wait > deadline:
            return False
        if deadline is None and wait > settings.RATE_LIMIT_MAX_SLEEP_S:
            raise ScopePaused(
                f"The request budget of {key} is spent until {_clock_time(wait)} "
                f"({_duration(wait)}); calls resume then.", retry_after=wait)
        time.sleep(min(wait, 1.0) + 0.001)


def try_acquire(key: str, *, limit_per_s: float, per_min: int | None = None,
                per_day: int | None = None) -> float:
    """Take a slot if one is free (returns 0), else return the seconds until one may be."""
    return _backend().try_acquire(key, allowed_in_window(limit_per_s), window_s(),
                                  windows(per_min=per_min, per_day=per_day))


def peek_wait(key: str, *, limit_per_s: float, per_min: int | None = None,
              per_day: int | None = None) -> float:
    """Seconds until a slot may be free, without taking one (0: one is free now)."""
    return _backend().peek(key, allowed_in_window(limit_per_s), window_s(),
                           windows(per_min=per_min, per_day=per_day))


def scope_state(key: str, *, per_min: int | None = None,
                per_day: int | None = None) -> ScopeState:
    """Calls counted in the scope's current minute and day, and until when it is paused."""
    counted = windows(per_min=per_min, per_day=per_day)
    now, blocked_until, used = _backend().counts(key, counted)
    uses, paused = [], max(0.0, blocked_until - now)
    if paused <= settings.RATE_LIMIT_MAX_SLEEP_S:
        paused = 0.0
    for window, count in zip(counted, used, strict=True):
        ends = (now // window.length + 1) * window.length
        uses.append(WindowUse(window.name, window.allowed, count, _at(ends - now)))
        if count >= window.allowed:
            paused = max(paused, ends - now)
    return ScopeState(windows=uses, paused_until=_at(paused) if paused > 0 else None)


def _at(seconds_from_now: float) -> datetime:
    return datetime.fromtimestamp(time.time() + seconds_from_now, tz=UTC)


def _clock_time(seconds_from_now: float) -> str:
    return _at(seconds_from_now).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"in {minutes // 60} h {minutes % 60} min"
    return f"in {minutes} min {int(seconds % 60)} s" if minutes else f"in {seconds:.0f} s"


def _window_key(window: Window, now: float) -> str:
    """The counter of the window that ``now`` falls in, e.g. "day:20425"."""
    return f"{window.name}:{int(now // window.length)}"


def _windows_wait(windows_: list[Window], used: list[int], now: float) -> float:
    """Seconds until every spent window has ended (0: none is spent)."""
    waits = [(now // w.length + 1) * w.length - now
             for w, n in zip(windows_, used, strict=True) if n >= w.allowed]
    return max(waits, default=0.0)


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
            return float(cursor.fetchone()[0]) + settings.RATE_LIMIT_CLOCK_SHIFT_S

    @staticmethod
    def _used(bucket, windows_: list[Window], now: float) -> list[int]:
        """Calls counted in each window's current period (the bucket keeps only those)."""
        counters = bucket.counters if bucket is not None else {}
        used = []
        for w in windows_:
            period, count = counters.get(w.name, ("", 0))
            used.append(count if period == _window_key(w, now) else 0)
        return used

    def _locked(self, key: str):
        from .models import RateBucket

        bucket = RateBucket.objects.select_for_update().filter(key=key).first()
        if bucket is None:
            RateBucket.objects.bulk_create([RateBucket(key=key)], ignore_conflicts=True)
            bucket = RateBucket.objects.select_for_update().get(key=key)
        return bucket

    def try_acquire(self, key: str, allowed: int, window: float,
                    windows_: list[Window]) -> float:
        from .models import RateBucket

        with transaction.atomic():
            bucket = self._locked(key)
            now = self._now()
            if bucket.blocked_until > now:
                return bucket.blocked_until - now
            used = self._used(bucket, windows_, now)
            hits = [t for t in bucket.hits if t > now - window]
            wait = max(_windows_wait(windows_, used, now), _wait(hits, allowed, window, now))
            if wait > 0:
                return wait
            hits.append(now)
            second = str(int(now))
            per_second = {
                s: n for s, n in bucket.per_second.items() if int(s) > now - HISTORY_S
            }
            per_second[second] = per_second.get(second, 0) + 1
            counters = {w.name: [_window_key(w, now), n + 1]
                        for w, n in zip(windows_, used, strict=True)}
            RateBucket.objects.filter(key=key).update(hits=hits, per_second=per_second,
                                                      counters=counters)
            return 0.0

    def peek(self, key: str, allowed: int, window: float, windows_: list[Window]) -> float:
        from .models import RateBucket

        bucket = RateBucket.objects.filter(key=key).first()
        if bucket is None:
            return 0.0
        now = self._now()
        hits = [t for t in bucket.hits if t > now - window]
        return max(0.0, bucket.blocked_until - now, _wait(hits, allowed, window, now),
                   _windows_wait(windows_, self._used(bucket, windows_, now), now))

    def counts(self, key: str, windows_: list[Window]) -> tuple[float, float, list[int]]:
        from .models import RateBucket

        bucket = RateBucket.objects.filter(key=key).first()
        now = self._now()
        blocked = bucket.blocked_until if bucket is not None else 0.0
        return now, blocked, self._used(bucket, windows_, now)

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


# The counted windows come last in ARGV as (name, length, allowed) triples; their counter
# keys are KEYS[4] .. name .. ':' .. the window's number since the epoch.
_WINDOWS = """
local function counted(now, first)
  local found = {}
  for i = first, #ARGV, 3 do
    local length = tonumber(ARGV[i + 1])
    local index = math.floor(now / length)
    local key = KEYS[4] .. ARGV[i] .. ':' .. string.format('%d', index)
    found[#found + 1] = {key = key, length = length, allowed = tonumber(ARGV[i + 2]),
                         used = tonumber(redis.call('GET', key) or '0'),
                         ends = (index + 1) * length}
  end
  return found
end
local function spent(found, now)
  local wait = 0
  for _, w in ipairs(found) do
    if w.used >= w.allowed then wait = math.max(wait, w.ends - now) end
  end
  return wait
end
"""

# KEYS: window zset, blocked-until key, per-second counter prefix, window counter prefix.
# ARGV: allowed, window seconds, unique member, history seconds, clock shift, windows...
_TRY_ACQUIRE = _WINDOWS + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[5])
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then return tostring(blocked - now) end
local found = counted(now, 6)
local spent_wait = spent(found, now)
if spent_wait > 0 then return tostring(spent_wait) end
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
for _, w in ipairs(found) do
  redis.call('INCR', w.key)
  redis.call('PEXPIREAT', w.key, math.ceil((w.ends - tonumber(ARGV[5])) * 1000) + 60000)
end
return '0'
"""

# KEYS as _TRY_ACQUIRE's; ARGV: allowed, window seconds, clock shift, windows...
_PEEK = _WINDOWS + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[3])
local wait = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') - now,
                      spent(counted(now, 4), now))
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

# KEYS: window counter prefix (unused), ARGV: clock shift, windows...
_COUNTS = _WINDOWS + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local result = {tostring(now), redis.call('GET', KEYS[2]) or '0'}
for _, w in ipairs(counted(now, 2)) do result[#result + 1] = tostring(w.used) end
return result
"""

# ARGV: seconds, clock shift.
_PENALIZE = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[2]) + tonumber(ARGV[1])
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
        self._counts = self.client.register_script(_COUNTS)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"ratelimit:{key}:window", f"ratelimit:{key}:blocked", f"ratelimit:{key}:s:",
                f"ratelimit:{key}:w:"]

    @staticmethod
    def _window_args(windows_: list[Window]) -> list:
        return [value for w in windows_ for value in (w.name, repr(float(w.length)), w.allowed)]

    def try_acquire(self, key: str, allowed: int, window: float,
                    windows_: list[Window]) -> float:
        shift = settings.RATE_LIMIT_CLOCK_SHIFT_S
        with _redis_answers():
            result = self._try(keys=self._keys(key),
                               args=[allowed, window, uuid.uuid4().hex, HISTORY_S, shift,
                                     *self._window_args(windows_)])
        return float(result)

    def peek(self, key: str, allowed: int, window: float, windows_: list[Window]) -> float:
        shift = settings.RATE_LIMIT_CLOCK_SHIFT_S
        with _redis_answers():
            return float(self._peek(keys=self._keys(key),
                                    args=[allowed, window, shift, *self._window_args(windows_)]))

    def counts(self, key: str, windows_: list[Window]) -> tuple[float, float, list[int]]:
        with _redis_answers():
            now, blocked, *used = self._counts(
                keys=self._keys(key),
                args=[settings.RATE_LIMIT_CLOCK_SHIFT_S, *self._window_args(windows_)])
        return float(now), float(blocked), [int(n) for n in used]

    def penalize(self, key: str, seconds: float) -> None:
        with _redis_answers():
            self._penalize(keys=[self._keys(key)[1]],
                           args=[seconds, settings.RATE_LIMIT_CLOCK_SHIFT_S])

    def used(self, key: str, last_s: int) -> int:
        prefix = self._keys(key)[2]
        with _redis_answers():
            now = int(self.client.time()[0] + settings.RATE_LIMIT_CLOCK_SHIFT_S)
            values = self.client.mget([f"{prefix}{s}" for s in range(now - last_s + 1, now + 1)])
        return sum(int(v) for v in values if v)
