"""Operator commands: flush, status, requeue, purge of the sync log, erase."""

import json
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audiencesync.workspaces.models import Profile
from canvas.models import BatchState, ItemState, SyncBatch, SyncItem, SyncRequest
from canvas.services.entry import canvas_enter_users
from tests import builders

from .checks import assert_conserved, metrics
from .conftest import MAPPING, mapping_bodies, tiktok_answer

pytestmark = pytest.mark.django_db

REFUSED = tiktok_answer(40002, "Invalid parameters")


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- sync_flush ----------------------------------------------------------------------------


def test_sync_flush_sends_now_and_says_what_it_did(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(5))

    output = run("sync_flush")

    assert "synced        1 batch(es)         5 user(s)" in output
    assert "1 batch(es) handled for 1 step(s)." in output
    assert metrics(step).synced == 5
    assert run("sync_flush") == "Nothing to send.\n"


def test_sync_flush_refuses_a_deadline_that_is_no_time(db):
    with pytest.raises(CommandError, match="positive"):
        run("sync_flush", "--deadline", "0")


# --- sync_status ---------------------------------------------------------------------------


def test_sync_status_json_is_one_object_with_the_step_metrics_and_rate_scopes(
        tiktok_api, tiktok_canvas, workspace, settings):
    settings.TIKTOK_MAX_BATCH = 1  # one call per user: 6 calls in the last minute
    settings.REDIS_URL = ""  # this test's own rate buckets (rolled back with it)
    # The limiter's clock a second into a minute: the six calls fall in one minute and day.
    now = time.time()
    settings.RATE_LIMIT_CLOCK_SHIFT_S = (now // 60 + 1) * 60 + 1 - now
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(6) + [
        {"external_id": "bad", "email": "not-an-email"}])
    run("sync_flush")
    canvas_enter_users(canvas=canvas, users=builders.users(2, start=10))  # left pending
    pinterest = builders.connected_account(workspace, partner="pinterest", external_id="549")
    pin_step = builders.sync_step(canvas, account=pinterest,
                                  target=builders.audience(pinterest, external_id="p1"),
                                  match_fields=("email",))

    report = json.loads(run("sync_status", "--json"))

    assert set(report) == {"steps", "rate", "connections", "clusters", "events"}
    by_id = {s["id"]: s for s in report["steps"]}
    assert set(by_id) == {step.pk, pin_step.pk}
    tiktok_row = by_id[step.pk]
    assert tiktok_row.pop("oldest_pending_s") >= 0
    assert tiktok_row == {
        "id": step.pk, "canvas_id": canvas.pk, "canvas": "Spring retargeting",
        "partner": "tiktok", "action": "add", "audience": "High value", "entered": 9,
        "proceeded": 0, "synced": 6, "not_synced": 1, "pending": 2, "errored": 0,
        "errored_24h": 0, "exited": 9,
    }
    assert by_id[pin_step.pk]["entered"] == 0 and by_id[pin_step.pk]["oldest_pending_s"] is None
    rates = {r["scope"]: r for r in report["rate"]}
    assert set(rates) == {"tiktok:app", f"pinterest:connection-{pinterest.connection_id}"}
    # TikTok's budgets are the app's tier (Basic by default), counted per minute and day.
    tiktok_rate = rates["tiktok:app"]
    assert (tiktok_rate["limit_per_s"], tiktok_rate["limit_per_min"],
            tiktok_rate["limit_per_day"]) == (10.0, 600, 864_000)
    assert tiktok_rate["used_per_s_last_60s"] == 0.1
    assert (tiktok_rate["used_this_minute"], tiktok_rate["used_today"]) == (6, 6)
    assert tiktok_rate["paused_until"] is None
    pin_rate = rates[f"pinterest:connection-{pinterest.connection_id}"]
    assert (pin_rate["limit_per_s"], pin_rate["limit_per_min"], pin_rate["used_today"]) == (
        7.0, None, None)


def test_sync_status_leaves_out_stopped_canvases_without_pending_users(tiktok_canvas):
    canvas, step = tiktok_canvas
    canvas.status = "stopped"
    canvas.save()
    assert json.loads(run("sync_status", "--json")) == {
        "steps": [], "rate": [], "connections": [], "clusters": [], "events": []}
    assert "No Audience Sync step" in run("sync_status")


def test_sync_status_table_lists_each_step(tiktok_canvas):
    canvas, step = tiktok_canvas
    canvas_enter_users(canvas=canvas, users=builders.users(3))
    lines = run("sync_status").splitlines()
    assert lines[0].split()[:4] == ["id", "canvas", "partner", "action"]
    assert f"Spring retargeting ({canvas.pk})" in lines[1] and "tiktok:app" in lines[-1]


# --- sync_requeue --------------------------------------------------------------------------


def _errored_then_requeueable(tiktok_api, canvas, n=3):
    tiktok_api.post(MAPPING, **REFUSED)
    canvas_enter_users(canvas=canvas, users=builders.users(n))
    run("sync_flush")
    tiktok_api.replace("POST", MAPPING, **tiktok_answer(request_id="rid-again"))


def test_requeue_dry_run_only_counts(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    _errored_then_requeueable(tiktok_api, canvas)

    output = run("sync_requeue", "--step", str(step.pk))

    assert "Dry run: 3 errored user(s)" in output and "--commit" in output
    assert metrics(step).errored == 3
    assert SyncItem.objects.filter(state=ItemState.ERRORED).count() == 3
    assert run("sync_flush") == "Nothing to send.\n"


def test_requeue_commit_sends_errored_users_again_and_keeps_counters_conserved(
        tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    _errored_then_requeueable(tiktok_api, canvas)

    output = run("sync_requeue", "--step", str(step.pk), "--reason", "INVALID PARAM",
                 "--commit")

    assert "3 errored user(s) of step" in output and "1 batch(es)" in output
    m = metrics(step)
    assert (m.errored, m.pending) == (0, 3)
    assert_conserved(step)
    batch = SyncBatch.objects.get(state=BatchState.RETRYING)
    assert batch.next_attempt_at <= timezone.now() and batch.size == 3

    run("sync_flush")

    bodies = mapping_bodies(tiktok_api)
    assert len(bodies) == 2 and bodies[0]["batch_data"] == bodies[1]["batch_data"]
    assert (metrics(step).synced, metrics(step).errored) == (3, 0)
    assert_conserved(step)
    assert run("sync_requeue", "--step", str(step.pk), "--commit").startswith("0 errored")


def test_requeue_only_takes_users_whose_reason_matches(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    _errored_then_requeueable(tiktok_api, canvas)
    assert "0 errored" in run("sync_requeue", "--step", str(step.pk), "--reason", "timeout",
                              "--commit")
    assert metrics(step).errored == 3


def test_requeue_never_overrules_a_later_intent_for_the_same_user(tiktok_api, workspace):
    account = builders.connected_account(workspace)
    target = builders.audience(account)
    canvas = builders.active_canvas(workspace)
    add = builders.sync_step(canvas, account=account, target=target, action="add")
    builders.sync_step(canvas, account=account, target=target, action="remove")
    tiktok_api.post(MAPPING, **REFUSED)
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(2))
    run("sync_flush")  # the add errored, the later remove was accepted
    assert metrics(add).errored == 2

    assert "Dry run: 0 errored" in run("sync_requeue", "--step", str(add.pk))
    assert run("sync_requeue", "--step", str(add.pk), "--commit").startswith("0 errored")
    assert metrics(add).errored == 2


def test_requeue_batches_never_cover_users_pending_in_another_batch(
        tiktok_api, tiktok_canvas, settings):
    settings.TIKTOK_MAX_BATCH = 2
    settings.SYNC_BACKOFF_BASE = 3600  # the middle batch stays waiting to retry
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **REFUSED)
    tiktok_api.post(MAPPING, **tiktok_answer(50000, "System error"))
    tiktok_api.post(MAPPING, **REFUSED)
    canvas_enter_users(canvas=canvas, users=builders.users(6))
    run("sync_flush")  # ids 1-2 errored, 3-4 waiting to retry, 5-6 errored
    ids = list(SyncItem.objects.order_by("id").values_list("id", flat=True))
    assert list(SyncItem.objects.order_by("id").values_list("state", flat=True)) == [
        "errored", "errored", "pending", "pending", "errored", "errored"]

    run("sync_requeue", "--step", str(step.pk), "--commit")

    new = SyncBatch.objects.filter(last_error="Requeued by an operator.").order_by("id")
    assert [(b.first_item_id, b.last_item_id) for b in new] == [(ids[0], ids[1]),
                                                                 (ids[4], ids[5])]
    assert_conserved(step)


def test_requeue_of_an_unknown_step_fails_clearly(db):
    with pytest.raises(CommandError, match="No Audience Sync step with id 999"):
        run("sync_requeue", "--step", "999")


# --- purge_sync_log ------------------------------------------------------------------------


def test_purge_sync_log_is_a_dry_run_unless_committed(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    for start in (0, 10, 20):
        canvas_enter_users(canvas=canvas, users=builders.users(2, start=start))
        run("sync_flush")
    old = list(SyncRequest.objects.order_by("id").values_list("id", flat=True)[:2])
    SyncRequest.objects.filter(id__in=old).update(created_at=timezone.now() - timedelta(days=40))

    assert "Dry run: 2 sync log row(s)" in run("purge_sync_log", "--older-than", "30")
    assert SyncRequest.objects.count() == 3

    assert "2 sync log row(s) older than 30 day(s) deleted" in run(
        "purge_sync_log", "--older-than", "30", "--commit")
    assert list(SyncRequest.objects.values_list("id", flat=True)) != old
    assert SyncRequest.objects.count() == 1
    assert metrics(step).synced == 6  # the counters are the history
    assert "0 sync log row(s)" in run("purge_sync_log", "--older-than", "30", "--commit")


def test_purge_sync_log_refuses_negative_days(db):
    with pytest.raises(CommandError, match="zero or more"):
        run("purge_sync_log", "--older-than", "-1")


# --- erase_profile -------------------------------------------------------------------------


def test_erase_profile_dry_run_then_commit(tiktok_api, tiktok_canvas, workspace):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(2))
    run("sync_flush")
    args = ("erase_profile", "--workspace", workspace.slug, "--external-id", "u0")

    output = run(*args)

    assert "Dry run" in output and "1 remove(s)" in output and "High value" in output
    assert Profile.objects.get(external_id="u0").email == "user0@example.com"

    output = run(*args, "--commit")

    profile = Profile.objects.get(external_id__startswith="erased-")
    assert f"now erased-{profile.pk}" in output and "1 remove(s) queued" in output
    assert profile.email == ""
    with pytest.raises(CommandError, match="No profile with external id 'u0'"):
        run(*args, "--commit")


def test_erase_profile_unknown_workspace_fails_clearly(db):
    with pytest.raises(CommandError, match="No workspace with slug 'nope'"):
        run("erase_profile", "--workspace", "nope", "--external-id", "u0")
