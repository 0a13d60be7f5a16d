"""The long-running sync loops ride out outages: a Redis that stops answering and a dropped
database connection are transient; the loops wait, log once, and go on syncing."""

import logging
import os
import socket
import threading
import time

import psycopg
import pytest
from django.db import connection

from audiencesync.sync import tasks
from canvas.models import CanvasEntry
from canvas.selectors import step_metrics
from canvas.services.entry import canvas_enter_users
from partners import ratelimit
from tests import builders

from .conftest import MAPPING, tiktok_answer

OUTAGE = "Retrying until it answers"
RECOVERED = "answer again"


@pytest.fixture
def silent_redis():
    """A Redis URL whose server accepts connections and never answers: a paused Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    listener.close()


def test_a_paused_redis_is_a_timeout_error_of_the_limiter_not_a_hang(settings, silent_redis):
    settings.REDIS_URL = silent_redis
    settings.REDIS_TIMEOUT_S = 0.5
    outcome = {}

    def take_a_slot():
        started = time.monotonic()
        try:
            ratelimit.try_acquire("tiktok:app", limit_per_s=50)
        except Exception as error:  # noqa: BLE001 (what it raises is the point)
            outcome["error"] = error
        outcome["seconds"] = time.monotonic() - started

    caller = threading.Thread(target=take_a_slot, daemon=True)
    caller.start()
    caller.join(timeout=30)
    assert not caller.is_alive(), "the limiter call hung on a Redis that does not answer"
    assert isinstance(outcome["error"], ratelimit.Unavailable)
    assert outcome["error"].retryable
    assert "did not answer" in outcome["error"].message
    assert outcome["seconds"] < 3 * settings.REDIS_TIMEOUT_S  # one timeout, no hidden retries


@pytest.mark.django_db
def test_a_sender_rides_out_a_paused_redis_and_sends_everyone_once_it_answers(
        settings, silent_redis, tiktok_api, tiktok_canvas, monkeypatch, caplog):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(25))
    settings.REDIS_TIMEOUT_S = 0.2
    settings.REDIS_URL = silent_redis
    monkeypatch.setattr(tasks, "SENDER_SECONDS", 20)
    # Redis answers again after a while (the limiter's own store: Redis if this run has one).
    resume = threading.Timer(1.5, lambda: setattr(settings, "REDIS_URL",
                                                  os.environ.get("REDIS_URL", "")))
    resume.start()
    caplog.set_level(logging.WARNING, logger=tasks.__name__)
    try:
        handled = tasks.send_loop(0)
    finally:
        resume.cancel()

    assert handled >= 1
    m = step_metrics(steps=[step])[0]
    assert (m.synced, m.pending) == (25, 0)
    lines = [record.getMessage() for record in caplog.records]
    assert sum(OUTAGE in line for line in lines) == 1  # once per outage, not once per try
    assert sum(RECOVERED in line for line in lines) == 1
    assert any("did not answer" in line for line in lines)


def terminate_backend_of(conn) -> None:
    """Drop ``conn``'s server process as a database restart or a network cut would."""
    pid = conn.connection.info.backend_pid
    db = conn.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                         user=db["USER"], dbname=db["NAME"], autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        while killer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                             (pid,)).fetchone():
            time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_rides_out_a_dropped_database_connection(
        workspace, settings, monkeypatch, caplog):
    settings.SYNC_DISPATCHER_SECONDS = 4
    settings.SYNC_TICK_SECONDS = 0.1
    canvas = builders.active_canvas(workspace)
    builders.delay_step(canvas, seconds=1)
    canvas_enter_users(canvas=canvas, users=builders.users(5))
    release_due = tasks.entries_release_due
    dropped = []

    def drop_once_then_release():  # the connection dies under the dispatcher's first query
        if not dropped:
            connection.ensure_connection()
            terminate_backend_of(connection)
            dropped.append(True)
        return release_due()

    monkeypatch.setattr(tasks, "entries_release_due", drop_once_then_release)
    enqueued = []
    monkeypatch.setattr(tasks, "async_task", lambda func, **options: enqueued.append(func))
    caplog.set_level(logging.WARNING, logger=tasks.__name__)

    try:
        outcome = tasks.dispatch()
    finally:
        connection.close()  # whatever happened, the test's teardown gets a fresh connection

    assert outcome == "dispatched"

    assert dropped
    # The users waiting in the Delay still moved on (here: out of the canvas) ...
    assert not CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True).exists()
    # ... and the dispatcher handed over to its successor: the chain goes on.
    assert enqueued == ["audiencesync.sync.tasks.dispatch"]
    lines = [record.getMessage() for record in caplog.records]
    assert sum(OUTAGE in line and "OperationalError" in line for line in lines) == 1
    assert sum(RECOVERED in line for line in lines) == 1
