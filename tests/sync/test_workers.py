"""Real django-q2 clusters (other processes) against a standalone sandbox process.

Several workers share one rate limit and lose nobody, even when one is SIGKILLed mid-batch.
"""

import os
import signal
import time

import psycopg
import pytest
from django.db import connection
from django_q.models import Schedule, Task
from django_q.tasks import async_task

from audiencesync.proofs.processes import Processes
from audiencesync.proofs.sandbox import start_sandbox, workspace_connect
from canvas.models import BatchState, SyncBatch
from canvas.selectors import step_metrics, sync_items_recount
from canvas.services.entry import canvas_enter_users
from partners.models import Audience
from partners.services import connection_credentials
from partners.tiktok import TikTok
from tests import builders
from tests.e2e_support import database_url

pytestmark = pytest.mark.django_db(transaction=True)

RATE, MAX_ROWS = 10, 200


@pytest.fixture
def sandbox(tmp_path):
    box = start_sandbox(tmp_path, tiktok_rate=RATE, tiktok_max_rows=MAX_ROWS)
    yield box
    box.processes.stop()


@pytest.fixture
def journey(settings, sandbox, workspace):
    """A TikTok step wired to the sandbox with a real token; the workers' environment."""
    settings.TIKTOK_API_BASE_URL = sandbox.tiktok_api
    settings.TIKTOK_AUTHORIZE_URL = f"{sandbox.url}/portal/auth"
    settings.TIKTOK_MAX_BATCH = MAX_ROWS
    settings.TIKTOK_RATE_PER_S = RATE
    connection_row = workspace_connect(sandbox=sandbox, workspace=workspace, partner_key="tiktok")
    account = connection_row.ad_accounts.filter(selected=True).first()
    info = TikTok().create_audience(credentials=connection_credentials(connection=connection_row),
                                    ad_account_id=account.external_id, name="Workers",
                                    match_fields=["email"])
    target = Audience.objects.create(ad_account=account, external_id=info.id, name=info.name)
    canvas = builders.active_canvas(workspace)
    step = builders.sync_step(canvas, account=account, target=target, match_fields=["email"])
    env = {
        "DATABASE_URL": database_url(), "TIKTOK_API_BASE_URL": sandbox.tiktok_api,
        "TIKTOK_MAX_BATCH": str(MAX_ROWS), "TIKTOK_RATE_PER_S": str(RATE), "Q_WORKERS": "3",
        "SYNC_SENDERS": "3", "SYNC_BATCH_LEASE_SECONDS": "4", "PARTNER_HTTP_TIMEOUT": "3",
        "SYNC_TICK_SECONDS": "0.1",
        # A loaded test machine delays some requests between taking a slot and arriving:
        # a wider margin keeps such jitter from looking like a burst to the sandbox.
        "RATE_LIMIT_MARGIN": "0.2",
    }
    return canvas, step, target, env


def wait_until_synced(step, *, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if step_metrics(steps=[step])[0].pending == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"still pending after {timeout_s} s: {step_metrics(steps=[step])[0]}")


def assert_every_user_synced_once(step, sandbox, target, entered: int) -> None:
    m = step_metrics(steps=[step])[0]
    counted = sync_items_recount(step_ids=[step.pk])[step.pk]
    assert (m.entered, m.synced, m.pending, m.errored) == (entered, entered, 0, 0)
    assert counted["synced"] == entered  # the counter was not moved twice for anyone
    assert len(sandbox.members("tiktok", target.external_id)) == entered


def test_two_clusters_share_the_rate_limit_and_send_everyone(journey, sandbox):
    canvas, step, target, env = journey
    canvas_enter_users(canvas=canvas, users=builders.users(3000))
    with Processes() as clusters:
        clusters.cluster(env=env)
        clusters.cluster(env=env)
        async_task("audiencesync.sync.tasks.dispatch")
        wait_until_synced(step, timeout_s=90)
        record = sandbox.record()
    assert_every_user_synced_once(step, sandbox, target, 3000)
    assert record["rate_limited_responses"] == 0
    assert record["oversize_rejections"] == 0
    assert record["max_requests_per_s"]["tiktok:app"] <= RATE
    assert SyncBatch.objects.count() >= 3000 // MAX_ROWS


def test_a_worker_killed_mid_batch_loses_nobody(journey, sandbox):
    canvas, step, target, env = journey
    sandbox.control(action="faults", partner="tiktok", timeout_share=1.0, timeout_seconds=5)
    canvas_enter_users(canvas=canvas, users=builders.users(500))
    with Processes() as clusters:
        doomed = clusters.cluster(env=env)
        async_task("audiencesync.sync.tasks.dispatch")
        end = time.monotonic() + 60
        while not SyncBatch.objects.filter(state=BatchState.SENDING).exists():
            assert time.monotonic() < end, "no batch was ever in flight"
            time.sleep(0.1)
        os.killpg(doomed.pid, signal.SIGKILL)  # the whole cluster, mid-send
        doomed.wait()
        sandbox.control(action="faults", partner="tiktok")  # the partner recovers
        assert step_metrics(steps=[step])[0].pending == 500
        # As in production, the every-minute schedule restarts the dispatcher chain should
        # the broker lose the task below (the dying cluster can take one with it).
        Schedule.objects.create(name="dispatcher", func="audiencesync.sync.tasks.dispatch",
                                schedule_type=Schedule.MINUTES, minutes=1, repeats=-1)
        clusters.cluster(env=env)
        async_task("audiencesync.sync.tasks.dispatch")
        wait_until_synced(step, timeout_s=90)
    assert_every_user_synced_once(step, sandbox, target, 500)


def terminate_the_workers_connections() -> int:
    """Kill every connection to the test database but this process's own, as a database
    restart or a network cut does to the workers'; returns how many were killed."""
    db = connection.settings_dict
    connection.ensure_connection()
    mine = connection.connection.info.backend_pid
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                         user=db["USER"], dbname=db["NAME"], autocommit=True) as killer:
        return len(killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)",
            (mine,)).fetchall())


@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_workers_ride_out_their_database_connections_being_killed(journey, sandbox):
    """No schedule restarts anything here: the dispatcher and senders themselves go on."""
    canvas, step, target, env = journey
    env = {**env, "SYNC_DISPATCHER_SECONDS": "5"}
    assert not Schedule.objects.exists()
    waves, per_wave = 5, 300
    killed = []
    with Processes() as clusters:
        clusters.cluster(env=env)
        async_task("audiencesync.sync.tasks.dispatch")
        canvas_enter_users(canvas=canvas, users=builders.users(per_wave))
        end = time.monotonic() + 60
        while not step_metrics(steps=[step])[0].synced:  # the cluster is at work
            assert time.monotonic() < end, "the cluster never started syncing"
            time.sleep(0.2)
        for wave in range(1, waves):
            killed.append(terminate_the_workers_connections())
            canvas_enter_users(canvas=canvas, users=builders.users(per_wave, start=wave * per_wave))
            time.sleep(1.5)
        killed.append(terminate_the_workers_connections())
        wait_until_synced(step, timeout_s=90)
        time.sleep(6)  # the dispatcher running now finishes and records its result
    assert all(killed)  # every kill dropped worker connections
    assert_every_user_synced_once(step, sandbox, target, waves * per_wave)
    dispatchers = Task.objects.filter(func="audiencesync.sync.tasks.dispatch")
    assert dispatchers.filter(success=True).exists()
    assert not dispatchers.filter(success=False).exists()  # none died of a dropped connection
