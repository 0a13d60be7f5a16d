"""django-q2 entry points of the sync engine.

django-q2's scheduler wakes about every 30 s and has no delayed tasks, so the sub-second
cadence lives here: ``dispatch`` runs for a bounded time under a lease, ticking every
SYNC_TICK_SECONDS (release due Delays, expire the retry window, keep sender loops
alive), then enqueues its own successor. A schedule starts it every minute in case the
chain breaks (a lost task only delays users: the outbox rows are the truth).
``send_loop`` claims and sends batches until it has been idle for a few seconds.

Both run long, so both stop early when their worker is asked to stop, after finishing and
recording the batch in hand rather than dying mid-batch. SIGINT (Ctrl-C, ``bin/run``):
the worker then takes part in django-q2's orderly shutdown. SIGTERM (a service manager,
or django-q2 ending a task past its timeout): the worker then exits, as SIGTERM asks.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from contextlib import contextmanager

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


class _StopRequest:
    """Set by SIGINT/SIGTERM while a long task runs in its worker's main thread."""

    requested = False
    signal: int | None = None


@contextmanager
def _stoppable():
    """Turn SIGINT and SIGTERM into a request to stop at the next tick, for the task's
    duration (django-q2 workers ignore SIGINT and die on SIGTERM otherwise)."""
    if threading.current_thread() is not threading.main_thread():
        yield _StopRequest()  # a signal handler can only be set from the main thread
        return
    stop = _StopRequest()

    def request_stop(signum, frame):
        logger.info("%s received: finishing the batch in hand, then stopping.",
                    signal.Signals(signum).name)
        stop.requested, stop.signal = True, signum

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.signal == signal.SIGTERM:
        # Delivered again to the handler it would have met: django-q2 workers die of it,
        # which is what django-q2 (past a timeout) or a service manager asked for.
        os.kill(os.getpid(), signal.SIGTERM)


def dispatch() -> str:
    token = uuid.uuid4().hex
    if not _lease_take(token):
        return "another dispatcher holds the lease"
    with _stoppable() as stop:
        outcome = _dispatch_until(token, stop)
    if outcome == "dispatched":
        async_task("audiencesync.sync.tasks.dispatch", task_name="sync dispatcher")
    return outcome


def _dispatch_until(token: str, stop: _StopRequest) -> str:
    """Tick until the dispatcher's time is up ("dispatched": a successor follows), its lease
    is lost (another dispatcher runs) or its worker must stop."""
    tick = settings.SYNC_TICK_SECONDS
    end = time.monotonic() + settings.SYNC_DISPATCHER_SECONDS
    next_expire = 0.0
    try:
        while time.monotonic() < end:
            if stop.requested:
                # No successor: the cluster is going down; its next start (and the
                # schedule every minute) starts a new chain.
                return "stopped"
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
    with _stoppable() as stop:
        try:
            while time.monotonic() < end and not stop.requested:
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
