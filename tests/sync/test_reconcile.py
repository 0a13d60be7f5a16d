"""Reconciliation: the step counters against a recount of the outbox."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.db.models import F
from django.utils import timezone

from audiencesync.sync import engine, tasks
from audiencesync.sync.schedules import SCHEDULES
from audiencesync.sync.services import (
    profile_erase,
    stats_reconcile,
    sync_history_purge,
    sync_items_requeue,
)
from audiencesync.workspaces.models import Profile
from canvas.models import StepStats, SyncItem
from canvas.services.entry import canvas_enter_users
from tests import builders

from .conftest import MAPPING, tiktok_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_step(tiktok_api, tiktok_canvas):
    """Synced, not synced, errored and pending users on one step."""
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    tiktok_api.post(MAPPING, **tiktok_answer(40002, "Invalid parameters"))
    canvas_enter_users(canvas=canvas, users=builders.users(4) + [{"external_id": "no-email"}])
    engine.sync_flush()
    canvas_enter_users(canvas=canvas, users=builders.users(3, start=10))
    engine.sync_flush()  # refused: errored
    canvas_enter_users(canvas=canvas, users=builders.users(2, start=20))  # pending
    return canvas, step


def test_no_drift_after_entries_and_flushes(busy_step):
    canvas, step = busy_step
    assert set(SyncItem.objects.values_list("state", flat=True)) == {
        "synced", "not_synced", "errored", "pending"}
    assert stats_reconcile() == {}
    assert tasks.reconcile() == {}


def test_an_edited_counter_is_reported_and_left_alone(busy_step, caplog):
    canvas, step = busy_step
    StepStats.objects.filter(step=step, synced__gt=0).update(synced=F("synced") - 1)

    with caplog.at_level(logging.WARNING, logger="audiencesync.sync.services"):
        drift = stats_reconcile()

    assert drift == {step.pk: {"synced": {"counters": 3, "items": 4},
                               "pending": {"counters": 3, "items": 2}}}
    assert f"Step {step.pk} counters drifted" in caplog.text
    assert "synced counted 3, outbox 4" in caplog.text
    assert sum(StepStats.objects.values_list("synced", flat=True)) == 3  # not rewritten


def test_a_lost_entry_is_reported(busy_step):
    canvas, step = busy_step
    SyncItem.objects.filter(state="pending").first().delete()
    drift = stats_reconcile()[step.pk]
    assert drift["entered"] == {"counters": 10, "items": 9}
    assert drift["pending"] == {"counters": 2, "items": 1}


def test_requeue_and_erasure_leave_no_drift(tiktok_api, busy_step):
    canvas, step = busy_step
    tiktok_api.replace("POST", MAPPING, **tiktok_answer())
    sync_items_requeue(step=step)
    assert stats_reconcile() == {}
    profile_erase(profile=Profile.objects.get(external_id="u0"))
    engine.sync_flush()
    assert stats_reconcile() == {}
    assert not SyncItem.objects.filter(state__in=["pending", "errored"]).exists()


def test_history_purged_past_retention_is_no_drift(tiktok_api, tiktok_canvas, settings):
    settings.SYNC_ITEM_RETENTION_DAYS = 30
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    with time_machine.travel(timezone.now() - timedelta(days=40)):
        canvas_enter_users(canvas=canvas, users=builders.users(4) + [{"external_id": "x"}])
        engine.sync_flush()
    canvas_enter_users(canvas=canvas, users=builders.users(2, start=10))
    engine.sync_flush()

    assert sync_history_purge().items == 5

    assert SyncItem.objects.count() == 2
    assert stats_reconcile() == {}


def test_reconciliation_is_scheduled():
    assert ("audiencesync.sync.tasks.reconcile", 10) in SCHEDULES.values()
    assert ("audiencesync.sync.tasks.purge_history", 60) in SCHEDULES.values()
