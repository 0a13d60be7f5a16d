"""The shared rate limiter: sliding window, penalties, shared by processes (DB and Redis)."""

import multiprocessing
import os
import time
from datetime import UTC, datetime

import pytest
from django.conf import settings

from partners import ratelimit


@pytest.fixture(params=["database", "redis"])
def backend(request, settings, transactional_db):
    if request.param == "redis":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("REDIS_URL is not set")
        settings.REDIS_URL = os.environ["REDIS_URL"]
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    else:
        settings.REDIS_URL = ""
    return request.param


def test_calls_are_paced_evenly_and_told_how_long_to_wait(backend):
    key = f"test:window:{backend}"
    spacing = ratelimit.window_s() / 5
    assert ratelimit.try_acquire(key, limit_per_s=5) == 0.0
    wait = ratelimit.try_acquire(key, limit_per_s=5)  # not a burst: one call per spacing
    assert 0 < wait <= spacing + 0.001  # the store's clock: SQLite's has milliseconds
    assert ratelimit.peek_wait(key, limit_per_s=5) > 0
    time.sleep(wait + 0.01)
    assert ratelimit.try_acquire(key, limit_per_s=5) == 0.0


def test_paced_calls_reach_the_limit_and_never_pass_it(backend):
    key = f"test:paced:{backend}"
    spacing = ratelimit.window_s() / 5
    started = time.monotonic()
    for _ in range(11):
        ratelimit.acquire(key, limit_per_s=5)
    elapsed = time.monotonic() - started
    # 11 calls are 10 spacings apart on the store's clock: never faster (so no second holds
    # more than 5), and not much slower either (the limit is reached).
    assert elapsed >= 10 * spacing - 0.01  # (SQLite's clock has milliseconds)
    assert elapsed < 10 * spacing + 1.5


def test_penalty_blocks_the_scope(backend):
    key = f"test:penalty:{backend}"
    ratelimit.penalize(key, seconds=0.5)
    assert ratelimit.try_acquire(key, limit_per_s=50) > 0.3
    assert ratelimit.acquire(key, limit_per_s=50, max_wait_s=0.1) is False
    assert ratelimit.acquire(key, limit_per_s=50, max_wait_s=2.0) is True


def test_usage_counts_calls_of_the_last_minute(backend):
    key = f"test:usage:{backend}"
    for _ in range(6):
        ratelimit.acquire(key, limit_per_s=50)
    assert ratelimit.used_per_s(key, last_s=60) == pytest.approx(6 / 60)


def _hammer(key: str, seconds: float, redis_url: str, queue) -> None:
    import django

    os.environ["REDIS_URL"] = redis_url
    django.setup()
    from django.db import connection

    connection.close()
    stamps = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if ratelimit.acquire(key, limit_per_s=10, max_wait_s=0.5):
            stamps.append(time.time())
    queue.put(stamps)


@pytest.mark.django_db(transaction=True)
def test_three_processes_share_one_budget(backend):
    """However many processes call, no one-second window holds more than the limit."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and backend == "database":
        # The test database is a file: other processes see it once its name is theirs.
        pass
    key = f"test:shared:{backend}"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(key, 2.5, settings.REDIS_URL, queue))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    stamps = sorted(s for _ in workers for s in queue.get(timeout=30))
    for worker in workers:
        worker.join()
    assert len(stamps) >= 20  # all three made progress together
    busiest = max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps)
    assert busiest <= 10


# --- counted windows: minute and day budgets (TikTok's app tiers) --------------------------
# A made-up tier whose minute and day budgets bind within a handful of calls; the limiter's
# clock is shifted (RATE_LIMIT_CLOCK_SHIFT_S) instead of waiting for a minute or a day.

FAST = 1_000  # a per-second rate that never binds here


def _shift_to(settings, *, seconds_into: float, period: float) -> None:
    """Shift the limiter's clock so that it reads ``seconds_into`` the next ``period``."""
    now = time.time()
    settings.RATE_LIMIT_CLOCK_SHIFT_S = (now // period + 1) * period + seconds_into - now


def test_a_spent_minute_budget_waits_for_the_next_minute(backend, settings):
    key = f"test:minute:{backend}"
    _shift_to(settings, seconds_into=1.0, period=60.0)
    for _ in range(3):
        assert ratelimit.acquire(key, limit_per_s=FAST, per_min=3)
    time.sleep(0.01)  # past the second's pacing: only the minute holds the next call
    wait = ratelimit.try_acquire(key, limit_per_s=FAST, per_min=3)
    assert 50 < wait <= 59.5  # until the minute ends, not one spacing of the second
    assert 50 < ratelimit.peek_wait(key, limit_per_s=FAST, per_min=3) <= 59.5
    # A worker does not sleep through it: the scope is paused, no call made.
    with pytest.raises(ratelimit.ScopePaused) as paused:
        ratelimit.acquire(key, limit_per_s=FAST, per_min=3)
    assert paused.value.retry_after > 50
    assert "spent until" in paused.value.message
    state = ratelimit.scope_state(key, per_min=3)
    assert [(w.name, w.used, w.allowed) for w in state.windows] == [("minute", 3, 3)]
    assert state.paused_until is not None

    settings.RATE_LIMIT_CLOCK_SHIFT_S += 60.0  # the next minute: a fresh budget
    assert ratelimit.try_acquire(key, limit_per_s=FAST, per_min=3) == 0.0
    state = ratelimit.scope_state(key, per_min=3)
    assert [(w.name, w.used) for w in state.windows] == [("minute", 1)]
    assert state.paused_until is None


def test_the_day_budget_resets_at_midnight_utc(backend, settings):
    key = f"test:day:{backend}"
    _shift_to(settings, seconds_into=-3.0, period=86_400.0)  # 23:59:57 UTC
    for _ in range(2):
        ratelimit.acquire(key, limit_per_s=FAST, per_min=100, per_day=2)
    time.sleep(0.01)
    wait = ratelimit.try_acquire(key, limit_per_s=FAST, per_min=100, per_day=2)
    assert 2.0 < wait <= 3.0  # until 00:00 UTC, however long the day's length
    state = ratelimit.scope_state(key, per_min=100, per_day=2)
    assert [(w.name, w.used) for w in state.windows] == [("minute", 2), ("day", 2)]
    # Shown on the real clock: when the shifted one reaches 00:00 UTC.
    assert 1.5 < (state.paused_until - datetime.now(UTC)).total_seconds() <= 3.0

    settings.RATE_LIMIT_CLOCK_SHIFT_S += 3.5  # 00:00:00.5 UTC: a new day, a new budget
    assert ratelimit.try_acquire(key, limit_per_s=FAST, per_min=100, per_day=2) == 0.0
    state = ratelimit.scope_state(key, per_min=100, per_day=2)
    assert [(w.name, w.used) for w in state.windows] == [("minute", 1), ("day", 1)]


def test_window_lengths_are_settings_and_every_window_binds(backend, settings):
    """Second, minute and day together: whichever is spent first holds the scope."""
    key = f"test:tier:{backend}"
    settings.RATE_LIMIT_MINUTE_S = 4.0
    settings.RATE_LIMIT_DAY_S = 40.0
    _shift_to(settings, seconds_into=0.5, period=40.0)
    limits = {"limit_per_s": 2, "per_min": 3, "per_day": 5}
    assert ratelimit.try_acquire(key, **limits) == 0.0
    assert 0 < ratelimit.try_acquire(key, **limits) <= ratelimit.window_s() / 2 + 0.01  # second
    taken = 1
    while taken < 3:
        settings.RATE_LIMIT_CLOCK_SHIFT_S += 0.6
        taken += ratelimit.try_acquire(key, **limits) == 0.0
    assert ratelimit.try_acquire(key, **limits) > 1.0  # the "minute" of 4 s is spent
    settings.RATE_LIMIT_CLOCK_SHIFT_S += 4.0
    while taken < 5:
        settings.RATE_LIMIT_CLOCK_SHIFT_S += 0.6
        taken += ratelimit.try_acquire(key, **limits) == 0.0
    settings.RATE_LIMIT_CLOCK_SHIFT_S += 4.0  # a fresh "minute", but the "day" is spent
    wait = ratelimit.try_acquire(key, **limits)
    assert 20 < wait < 40
    assert [w.used for w in ratelimit.scope_state(key, per_min=3, per_day=5).windows] == [0, 5]


def test_windows_are_counters_not_logs_of_calls(backend, settings):
    key = f"test:counters:{backend}"
    _shift_to(settings, seconds_into=1.0, period=60.0)
    for _ in range(40):
        ratelimit.acquire(key, limit_per_s=FAST, per_min=1_000, per_day=100_000)
    if backend == "database":
        from partners.models import RateBucket

        counters = RateBucket.objects.get(key=key).counters
        assert {name: count for name, (_, count) in counters.items()} == {
            "minute": 40, "day": 40}
    else:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        counted = client.keys(f"ratelimit:{key}:w:*")
        assert sorted(int(client.get(k)) for k in counted) == [40, 40]
