"""The shared rate limiter: sliding window, penalties, shared by processes (DB and Redis)."""

import multiprocessing
import os
import time

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
