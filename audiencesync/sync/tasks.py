"""django-q2 entry points of the sync engine.

django-q2's scheduler wakes about every 30 s and has no delayed tasks, so the sub-second
cadence lives here: ``dispatch`` runs for a bounded time under a lease, ticking every
SYNC_TICK_SECONDS (release due Delays, expire the retry window, keep sender loops
alive), then enqueues its own successor. A schedule starts it every minute in case the
chain breaks (a lost task only delays users: the outbox rows are the truth).
``send_loop`` claims and sends batches until it has been idle for a few seconds.
"""

from __future__ import annotations

import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django_q.tasks import async_task

from canvas.services.entry import entries_release_due

from . import engine, services

logger = logging.getLogger(__name__)

DISPATCHER_LEASE = "sync:dispatcher"
SENDER_SLOT = "sync:sender:{}"
SENDER_SECONDS = 60
SENDER_IDLE_SECONDS = 3.0
EXPIRE_EVERY_SECONDS = 5.0
LEASE_SECONDS = 5


def dispatch() -> str:
    token = uuid.uuid4().hex
    if not _lease_take(token):
        return "another dispatcher holds the lease"
    tick = settings.SYNC_TICK_SECONDS
    end = time.monotonic() + settings.SYNC_DISPATCHER_SECONDS
    next_expire = 0.0
    try:
        while time.monotonic() < end:
            # A short lease, renewed every tick: a dispatcher that died is replaced quickly.
            if cache.get(DISPATCHER_LEASE) != token:
                return "lost the lease"
            cache.touch(DISPATCHER_LEASE, LEASE_SECONDS)
            entries_release_due()
            if time.monotonic() >= next_expire:
                engine.batches_expire()
                next_expire = time.monotonic() + EXPIRE_EVERY_SECONDS
            if engine.steps_with_work():
                senders_ensure()
            time.sleep(tick)
    finally:
        if cache.get(DISPATCHER_LEASE) == token:
            cache.delete(DISPATCHER_LEASE)
    async_task("audiencesync.sync.tasks.dispatch", task_name="sync dispatcher")
    return "dispatched"


def _lease_take(token: str) -> bool:
    """Take the dispatcher lease, waiting out one that a dead dispatcher left behind.

    A live dispatcher renews its lease every tick, so waiting one lease period tells a
    lapsed lease from a held one.
    """
    end = time.monotonic() + LEASE_SECONDS + 1
    while not cache.add(DISPATCHER_LEASE, token, timeout=LEASE_SECONDS):
        if time.monotonic() > end:
            return False
        time.sleep(0.5)
    return True


def _sender_lease_s() -> float:
    # Renewed after every batch; one send may take the whole HTTP timeout.
    return settings.PARTNER_HTTP_TIMEOUT + 15


def senders_ensure() -> int:
    """Start a sender loop in every free slot; returns how many were started."""
    started = 0
    for slot in range(settings.SYNC_SENDERS):
        if cache.add(SENDER_SLOT.format(slot), 1, timeout=_sender_lease_s()):
            async_task("audiencesync.sync.tasks.send_loop", slot, task_name=f"sync sender {slot}")
            started += 1
    return started


def send_loop(slot: int) -> int:
    """Claim and send batches (any step, fairly) until idle; returns batches handled."""
    handled = 0
    end = time.monotonic() + SENDER_SECONDS
    idle_since = time.monotonic()
    try:
        while time.monotonic() < end:
            cache.touch(SENDER_SLOT.format(slot), _sender_lease_s())
            outcome = engine.sync_next(max_wait_s=settings.SYNC_TICK_SECONDS)
            if outcome is not None:
                handled += 1
                idle_since = time.monotonic()
                continue
            if time.monotonic() - idle_since > SENDER_IDLE_SECONDS:
                break
            time.sleep(settings.SYNC_TICK_SECONDS / 2)
    finally:
        cache.delete(SENDER_SLOT.format(slot))
    return handled


def reconcile() -> dict:
    """Compare step counters with the outbox; drift is logged and returned, never rewritten."""
    return services.stats_reconcile()


def purge_history() -> dict:
    """Forget resolved users, done batches and sync log rows past the retention period."""
    return vars(services.sync_history_purge())
