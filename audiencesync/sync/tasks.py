"""django-q2 entry points of the sync engine.

django-q2's scheduler wakes about every 30 s and has no delayed tasks, so the sub-second
cadence lives here: ``dispatch`` runs for a bounded time under the dispatcher lease,
ticking every SYNC_TICK_SECONDS (release due Delays, expire the retry window, keep sender
loops alive), then enqueues its own successor. A schedule starts it every minute in case the
chain breaks (a lost task only delays users: the outbox rows are the truth).
``send_loop`` claims and sends batches until it has been idle for a few seconds.

Both run long, so both ride out outages: a dropped or restarted database connection or a
Redis that does not answer is transient. The loop closes the connection, backs off briefly
and goes on (logging once when the outage starts and once when it ends); the outbox rows
keep every user meanwhile, and a batch whose result was not recorded is sent again when its
batch lease ends.

Both also stop early when their worker is asked to stop, after finishing and
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

import redis.exceptions
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django_q.tasks import async_task

from canvas.services.actions import exit_segments_due
from canvas.services.entry import entries_release_due
from canvas.services.exits import exits_due
from partners import ratelimit

from . import engine, services

logger = logging.getLogger(__name__)

# The dispatcher lease (a cache key): one dispatcher runs at a time. Not the batch lease
# (SyncBatch.lease_until, SYNC_BATCH_LEASE_SECONDS), which the engine takes per batch sent.
DISPATCHER_LEASE = "sync:dispatcher"
SENDER_SLOT = "sync:sender:{}"
SENDER_SECONDS = 60
SENDER_IDLE_SECONDS = 3.0
EXPIRE_EVERY_SECONDS = 5.0
DISPATCHER_LEASE_SECONDS = 5
OUTAGE_BACKOFF_S = (0.5, 5.0)  # first and longest wait between tries during an outage
# How long a dispatcher starting or handing over waits out an outage before it fails (the
# every-minute schedule then starts a new chain).
OUTAGE_WAIT_S = 60.0

DATABASE_ERRORS = (OperationalError, InterfaceError)
# What a database restart, a dropped connection or a stalled Redis raises: never a bug of
# ours, so the loops wait it out instead of dying.
TRANSIENT_ERRORS = (*DATABASE_ERRORS, ratelimit.Unavailable, redis.exceptions.ConnectionError,
                    redis.exceptions.TimeoutError)


class _Outage:
    """One loop's view of an outage: how long to back off, and a log line when it starts
    and when it ends (not one per failed tick)."""

    def __init__(self, loop: str):
        self.loop = loop
        self.since: float | None = None
        self.failures = 0

    def failed(self, error: Exception) -> float:
        """Note the failure, drop a database connection that failed; seconds to wait."""
        if isinstance(error, DATABASE_ERRORS):
            _database_connection_reset()
        if self.since is None:
            self.since = time.monotonic()
            logger.warning("%s: %s: %s. Retrying until it answers; users wait, nothing is lost.",
                           self.loop, type(error).__name__, str(error).strip() or "no detail")
        self.failures += 1
        first, longest = OUTAGE_BACKOFF_S
        return min(longest, first * 2 ** (self.failures - 1))

    def answered(self) -> None:
        if self.since is not None:
            logger.warning("%s: the database and Redis answer again, after %.1f s.", self.loop,
                           time.monotonic() - self.since)
            self.since, self.failures = None, 0


def _database_connection_reset() -> None:
    """Roll back and close this thread's connection: the next query opens a fresh one."""
    try:
        connection.close()
    except DATABASE_ERRORS:
        connection.connection = None  # closing a dead connection may fail: forget it


def _quietly(action, what: str) -> None:
    """Best-effort cleanup (releasing a lease) that an outage must not turn into a crash."""
    try:
        action()
    except TRANSIENT_ERRORS as error:
        logger.info("Could not %s (%s); it lapses on its own.", what, type(error).__name__)


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
    # Stoppable from the start: taking the dispatcher lease may wait out an outage, and a
    # signal that came meanwhile must not be lost (django-q2 workers ignore SIGINT otherwise).
    with _stoppable() as stop:
        if not _dispatcher_lease_take(token, stop):
            return "stopped" if stop.requested else "another dispatcher holds the lease"
        outcome = _dispatch_until(token, stop)
        if outcome == "dispatched":
            _successor_enqueue(stop)
    return outcome


def _successor_enqueue(stop: _StopRequest) -> None:
    """Hand over to the next dispatcher, waiting out an outage of the broker's store."""
    outage = _Outage("Sync dispatcher (enqueuing its successor)")
    give_up = time.monotonic() + OUTAGE_WAIT_S
    while not stop.requested:
        try:
            async_task("audiencesync.sync.tasks.dispatch", task_name="sync dispatcher")
        except TRANSIENT_ERRORS as error:
            if time.monotonic() > give_up:
                raise
            time.sleep(outage.failed(error))
            continue
        outage.answered()
        return


def _dispatch_until(token: str, stop: _StopRequest) -> str:
    """Tick until the dispatcher's time is up ("dispatched": a successor follows), its
    dispatcher lease is lost (another dispatcher runs) or its worker must stop."""
    tick = settings.SYNC_TICK_SECONDS
    end = time.monotonic() + settings.SYNC_DISPATCHER_SECONDS
    next_expire = 0.0
    outage = _Outage("Sync dispatcher")
    try:
        while time.monotonic() < end:
            if stop.requested:
                # No successor: the cluster is going down; its next start (and the
                # schedule every minute) starts a new chain.
                return "stopped"
            try:
                if not _dispatcher_lease_keep(token):
                    return "lost the lease"
                entries_release_due()
                exits_due()
                exit_segments_due()
                if time.monotonic() >= next_expire:
                    engine.batches_expire()
                    next_expire = time.monotonic() + EXPIRE_EVERY_SECONDS
                if engine.steps_with_work():
                    senders_ensure()
            except TRANSIENT_ERRORS as error:
                time.sleep(min(outage.failed(error), max(0.0, end - time.monotonic())))
                continue
            outage.answered()
            time.sleep(tick)
    finally:
        _quietly(lambda: _dispatcher_lease_release(token), "release the dispatcher lease")
    return "dispatched"


def _dispatcher_lease_keep(token: str) -> bool:
    """Renew the short dispatcher lease (every tick: a dispatcher that died is replaced
    quickly).

    A lease that lapsed during an outage is taken again unless another dispatcher has it.
    """
    holder = cache.get(DISPATCHER_LEASE)
    if holder is None:
        return cache.add(DISPATCHER_LEASE, token, timeout=DISPATCHER_LEASE_SECONDS)
    if holder != token:
        return False
    cache.touch(DISPATCHER_LEASE, DISPATCHER_LEASE_SECONDS)
    return True


def _dispatcher_lease_release(token: str) -> None:
    if cache.get(DISPATCHER_LEASE) == token:
        cache.delete(DISPATCHER_LEASE)


def _dispatcher_lease_take(token: str, stop: _StopRequest) -> bool:
    """Take the dispatcher lease, waiting out one that a dead dispatcher left behind.

    A live dispatcher renews its lease every tick, so waiting one lease period tells a
    lapsed lease from a held one. An outage meanwhile only means waiting longer.
    """
    end = time.monotonic() + DISPATCHER_LEASE_SECONDS + 1
    give_up = time.monotonic() + OUTAGE_WAIT_S
    outage = _Outage("Sync dispatcher (starting)")
    while not stop.requested:
        try:
            if cache.add(DISPATCHER_LEASE, token, timeout=DISPATCHER_LEASE_SECONDS):
                outage.answered()
                return True
        except TRANSIENT_ERRORS as error:
            if time.monotonic() > give_up:
                raise
            end = time.monotonic() + DISPATCHER_LEASE_SECONDS + 1  # a held lease lapses meanwhile
            time.sleep(outage.failed(error))
            continue
        if time.monotonic() > end:
            return False
        time.sleep(0.5)
    return False


def _sender_slot_seconds() -> float:
    # Renewed after every batch; one send may take the whole HTTP timeout.
    return settings.PARTNER_HTTP_TIMEOUT + 15


def senders_ensure() -> int:
    """Start a sender loop in every free slot; returns how many were started."""
    started = 0
    for slot in range(settings.SYNC_SENDERS):
        if cache.add(SENDER_SLOT.format(slot), 1, timeout=_sender_slot_seconds()):
            async_task("audiencesync.sync.tasks.send_loop", slot, task_name=f"sync sender {slot}")
            started += 1
    return started


def send_loop(slot: int) -> int:
    """Claim and send batches (any step, fairly) until idle; returns batches handled."""
    handled = 0
    end = time.monotonic() + SENDER_SECONDS
    idle_since = time.monotonic()
    outage = _Outage(f"Sync sender {slot}")
    with _stoppable() as stop:
        try:
            while time.monotonic() < end and not stop.requested:
                try:
                    if not _slot_keep(slot):
                        break  # the slot lapsed during an outage and another sender has it
                    outcome = engine.sync_next(max_wait_s=settings.SYNC_TICK_SECONDS)
                except TRANSIENT_ERRORS as error:
                    # A batch claimed before the failure is sent again when its batch lease
                    # ends.
                    time.sleep(min(outage.failed(error), max(0.0, end - time.monotonic())))
                    idle_since = time.monotonic()  # an outage is not idleness
                    continue
                outage.answered()
                if outcome is not None:
                    handled += 1
                    idle_since = time.monotonic()
                    continue
                if time.monotonic() - idle_since > SENDER_IDLE_SECONDS:
                    break
                time.sleep(settings.SYNC_TICK_SECONDS / 2)
        finally:
            _quietly(lambda: cache.delete(SENDER_SLOT.format(slot)), f"free sender slot {slot}")
    return handled


def _slot_keep(slot: int) -> bool:
    key = SENDER_SLOT.format(slot)
    return cache.touch(key, _sender_slot_seconds()) or cache.add(key, 1, timeout=_sender_slot_seconds())


def reconcile() -> dict:
    """Compare step counters with the outbox; drift is logged and returned, never rewritten."""
    return services.stats_reconcile()


def purge_history() -> dict:
    """Forget resolved users, done batches and sync log rows past the retention period."""
    return vars(services.sync_history_purge())
