"""Scheduled runs, with the clock under control: a run enters the target audience and is
recorded; a missed occurrence runs once when a cluster comes back; an occurrence runs
once however often it is found due; a daylight-saving repeat runs once; re-entry rules
and entry caps hold for runs and for the entries API; a stopped canvas ends its run; a
run whose worker died is resumed without entering anyone twice."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction

from audiencesync.workspaces.identifier_services import profiles_identifiers_refresh
from audiencesync.workspaces.models import Profile
from canvas.models import (
    CanvasEntry,
    EntryMode,
    Reentry,
    RunState,
    ScheduledRun,
    ScheduleKind,
    SyncItem,
)
from canvas.services import canvases as canvas_services
from canvas.services import scheduled_runs
from canvas.services.entry import (
    canvas_enter_profiles,
    canvas_enter_users,
    entries_release_due,
)
from canvas.services.scheduled_runs import scheduled_run_work, scheduled_runs_due
from tests import builders
from tests.sync.checks import assert_conserved, metrics

pytestmark = pytest.mark.django_db


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


LAUNCH = utc(2026, 3, 2, 8, 0)  # a Monday


def profiles(workspace, n: int, *, start: int = 0) -> list[int]:
    Profile.objects.bulk_create([
        Profile(workspace=workspace, external_id=f"p{i:05d}", email=f"p{i}@example.com")
        for i in range(start, start + n)])
    ids = list(Profile.objects.filter(workspace=workspace).order_by("pk")
               .values_list("pk", flat=True))
    profiles_identifiers_refresh(profile_ids=ids)
    return ids


@pytest.fixture
def scheduled(workspace):
    """A daily 09:00 (UTC workspace) canvas launched at LAUNCH: a TikTok add, then a Delay
    of one hour that keeps entered users inside."""
    account = builders.connected_account(workspace)
    canvas = builders.active_canvas(workspace, name="Daily")
    step = builders.sync_step(canvas, account=account, target=builders.audience(account),
                              match_fields=["email"])
    builders.delay_step(canvas, seconds=3600)
    canvas.entry_mode = EntryMode.SCHEDULED
    canvas.schedule_kind = ScheduleKind.DAILY
    canvas.schedule_time = time(9, 0)
    canvas.launched_at = LAUNCH
    canvas.save()
    canvas.sync_step = step
    return canvas


def tick(at: datetime) -> list[ScheduledRun]:
    """What a cluster does at ``at``: start the due runs and work them to the end."""
    with time_machine.travel(at, tick=False):
        run_ids = scheduled_runs_due()
        for run_id in run_ids:
            assert scheduled_run_work(run_id=run_id)
    return list(ScheduledRun.objects.filter(pk__in=run_ids))


def test_a_run_enters_the_target_audience_and_is_recorded(scheduled, workspace):
    ids = profiles(workspace, 25)
    assert tick(utc(2026, 3, 2, 8, 59)) == []
    [run] = tick(utc(2026, 3, 2, 9, 0, 20))
    assert run.occurrence == utc(2026, 3, 2, 9, 0)
    assert (run.state, run.eligible, run.entered, run.skipped) == (RunState.FINISHED, 25, 25, 0)
    assert run.finished_at is not None
    assert sorted(CanvasEntry.objects.filter(canvas=scheduled)
                  .values_list("profile_id", flat=True)) == ids
    assert SyncItem.objects.filter(step=scheduled.sync_step).count() == 25
    assert_conserved(scheduled.sync_step)


def test_a_run_missed_while_no_cluster_ran_runs_once_when_one_comes_back(scheduled, workspace):
    profiles(workspace, 3)
    # No cluster from Monday 08:00 to Thursday 10:00: three 09:00s went by.
    [run] = tick(utc(2026, 3, 5, 10, 0))
    assert run.occurrence == utc(2026, 3, 5, 9, 0)
    assert tick(utc(2026, 3, 5, 10, 1)) == []
    assert tick(utc(2026, 3, 5, 23, 59)) == []
    [friday] = tick(utc(2026, 3, 6, 9, 0))
    assert friday.occurrence == utc(2026, 3, 6, 9, 0)
    assert ScheduledRun.objects.filter(canvas=scheduled).count() == 2


def test_an_occurrence_found_due_twice_runs_once(scheduled, workspace):
    profiles(workspace, 4)
    at = utc(2026, 3, 3, 9, 0, 5)
    with time_machine.travel(at, tick=False):
        first = scheduled_runs_due()
        second = scheduled_runs_due()  # a second cluster's tick, the same minute
    assert len(first) == 1 and second == []
    # The database holds the rule whatever the code does: one row per occurrence.
    with pytest.raises(IntegrityError), transaction.atomic():
        ScheduledRun.objects.create(canvas=scheduled, occurrence=utc(2026, 3, 3, 9, 0),
                                    started_at=at, lease_until=at)


def test_a_local_time_that_occurs_twice_runs_once(scheduled, workspace):
    workspace.time_zone = "Europe/Paris"
    workspace.save()
    scheduled.schedule_time = time(2, 30)
    scheduled.launched_at = utc(2026, 10, 24, 12, 0)
    scheduled.save()
    profiles(workspace, 2)
    [run] = tick(utc(2026, 10, 25, 0, 31))  # 02:31 summer time
    assert tick(utc(2026, 10, 25, 1, 31)) == []  # 02:31 again, winter time
    assert run.occurrence == utc(2026, 10, 25, 0, 30)


def test_a_local_time_skipped_by_the_clocks_runs_at_the_next_valid_minute(scheduled, workspace):
    workspace.time_zone = "Europe/Paris"
    workspace.save()
    scheduled.schedule_time = time(2, 30)
    scheduled.launched_at = utc(2026, 3, 28, 12, 0)
    scheduled.save()
    profiles(workspace, 2)
    assert tick(utc(2026, 3, 29, 0, 59)) == []  # 01:59 winter time
    [run] = tick(utc(2026, 3, 29, 1, 0))  # 03:00 summer time: 02:30 never came
    assert run.occurrence == utc(2026, 3, 29, 1, 0)


def test_monthly_on_the_31st_runs_on_the_last_day_of_april(scheduled, workspace):
    scheduled.schedule_kind = ScheduleKind.MONTHLY
    scheduled.schedule_monthday = 31
    scheduled.launched_at = utc(2026, 4, 1)
    scheduled.save()
    profiles(workspace, 2)
    assert tick(utc(2026, 4, 29, 9, 30)) == []
    [run] = tick(utc(2026, 4, 30, 9, 0))
    assert run.entered == 2


def test_weekly_and_once_runs(scheduled, workspace):
    profiles(workspace, 2)
    scheduled.schedule_kind = ScheduleKind.WEEKLY
    scheduled.schedule_weekdays = [2]  # Wednesday
    scheduled.save()
    assert tick(utc(2026, 3, 3, 9, 30)) == []  # Tuesday
    [run] = tick(utc(2026, 3, 4, 9, 30))
    assert run.occurrence == utc(2026, 3, 4, 9, 0)
    scheduled.schedule_kind = ScheduleKind.ONCE
    scheduled.schedule_date = datetime(2026, 3, 20).date()
    scheduled.save()
    assert tick(utc(2026, 3, 19, 9, 30)) == []
    [once] = tick(utc(2026, 3, 20, 9, 0))
    assert tick(utc(2026, 3, 21, 9, 0)) == []
    assert once.occurrence == utc(2026, 3, 20, 9, 0)


def test_users_inside_are_skipped_and_counted(scheduled, workspace):
    ids = profiles(workspace, 10)
    with time_machine.travel(utc(2026, 3, 2, 8, 30), tick=False):
        canvas_enter_profiles(canvas=scheduled, profile_ids=ids[:4])
    [run] = tick(utc(2026, 3, 2, 9, 0))  # the first four still wait in the one-hour Delay
    assert (run.eligible, run.entered, run.already_in_canvas) == (10, 6, 4)
    assert CanvasEntry.objects.filter(canvas=scheduled, exited_at__isnull=True).count() == 10


@pytest.mark.parametrize(("rule", "wait", "entered_next_day"), [
    (Reentry.NEVER, None, 0),
    (Reentry.AFTER_EXIT, None, 5),
    (Reentry.AFTER_WAIT, (30, "hours"), 0),
    (Reentry.AFTER_WAIT, (20, "hours"), 5),
])
def test_reentry_rules(scheduled, workspace, rule, wait, entered_next_day):
    profiles(workspace, 5)
    scheduled.reentry = rule
    scheduled.reentry_wait_value, scheduled.reentry_wait_unit = wait or (None, "")
    scheduled.save()
    tick(utc(2026, 3, 2, 9, 0))
    # By the next day's run, everyone left the canvas (the Delay is over).
    with time_machine.travel(utc(2026, 3, 2, 10, 30), tick=False):
        assert entries_release_due() == 5
    [run] = tick(utc(2026, 3, 3, 9, 0))
    assert run.entered == entered_next_day
    assert run.reentry_blocked == 5 - entered_next_day


def test_the_entries_api_keeps_the_reentry_rule(scheduled, workspace):
    scheduled.reentry = Reentry.NEVER
    scheduled.save()
    canvas_services.canvas_stop(canvas=scheduled)  # everyone leaves
    scheduled.refresh_from_db()
    scheduled.status = "active"
    scheduled.save()
    first = canvas_enter_users(canvas=scheduled, users=builders.users(3))
    CanvasEntry.objects.filter(canvas=scheduled).update(exited_at=utc(2026, 3, 2))
    again = canvas_enter_users(canvas=scheduled, users=builders.users(4))
    assert (first.entered, again.entered, again.reentry_blocked) == (3, 1, 3)
    assert again.as_dict()["reentry_blocked"] == 3


def test_caps_keep_the_first_profiles_in_id_order_and_count_every_hit(scheduled, workspace):
    ids = profiles(workspace, 10)
    scheduled.cap_per_run = 4
    scheduled.cap_per_day = 6
    scheduled.cap_total = 9
    scheduled.save()
    [monday] = tick(utc(2026, 3, 2, 9, 0))
    assert (monday.entered, monday.capped_run, monday.capped_day, monday.capped_total) == \
        (4, 6, 0, 0)
    assert sorted(CanvasEntry.objects.values_list("profile_id", flat=True)) == ids[:4]
    # Later the same day, through the API: the daily cap (6) leaves room for two.
    with time_machine.travel(utc(2026, 3, 2, 12, 0), tick=False):
        api = canvas_enter_profiles(canvas=scheduled, profile_ids=ids[4:])
    assert (api.entered, api.capped_by) == (2, {"day": 4})
    with time_machine.travel(utc(2026, 3, 2, 12, 30), tick=False):
        entries_release_due()
    [tuesday] = tick(utc(2026, 3, 3, 9, 0))
    # The two the API entered at noon still wait in the Delay; of the eight others, the
    # total cap (9, six entered so far) takes three: it is tighter than the per-run cap.
    assert (tuesday.already_in_canvas, tuesday.entered, tuesday.capped_total,
            tuesday.capped_run) == (2, 3, 5, 0)
    assert tuesday.eligible == 10 and tuesday.skipped == 7
    assert CanvasEntry.objects.count() == 9


def test_a_run_of_a_stopped_canvas_ends_and_says_why(scheduled, workspace, monkeypatch):
    monkeypatch.setattr(scheduled_runs, "CHUNK_SIZE", 3)
    profiles(workspace, 7)
    with time_machine.travel(utc(2026, 3, 2, 9, 0), tick=False):
        [run_id] = scheduled_runs_due()
        assert scheduled_run_work(run_id=run_id, seconds=0) is False  # one chunk of three
        canvas_services.canvas_stop(canvas=scheduled)
        assert scheduled_run_work(run_id=run_id) is True
    run = ScheduledRun.objects.get(pk=run_id)
    assert (run.state, run.entered) == (RunState.FAILED, 3)
    assert "stopped" in run.error


def test_a_run_whose_worker_died_is_resumed_and_enters_nobody_twice(scheduled, workspace,
                                                                   monkeypatch):
    monkeypatch.setattr(scheduled_runs, "CHUNK_SIZE", 4)
    ids = profiles(workspace, 10)
    start = utc(2026, 3, 2, 9, 0)
    with time_machine.travel(start, tick=False):
        [run_id] = scheduled_runs_due()
        scheduled_run_work(run_id=run_id, seconds=0)  # then the worker dies
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert scheduled_runs_due() == []  # its lease still holds
    with time_machine.travel(start + scheduled_runs.run_lease() + timedelta(seconds=1),
                             tick=False):
        assert scheduled_runs_due() == [run_id]
        assert scheduled_run_work(run_id=run_id)
    run = ScheduledRun.objects.get(pk=run_id)
    assert (run.state, run.eligible, run.entered) == (RunState.FINISHED, 10, 10)
    assert sorted(CanvasEntry.objects.values_list("profile_id", flat=True)) == ids
    assert_conserved(scheduled.sync_step)
    assert metrics(scheduled.sync_step).entered == 10


def test_every_step_adds_up_after_a_run_and_after_the_users_move_on(scheduled, workspace):
    """Invariant 1 on each sync step: after the run (the add), and after the Delay lets
    the users on to a remove from the same audience."""
    add = scheduled.sync_step
    remove = builders.sync_step(scheduled, account=add.ad_account, target=add.audience,
                                action="remove", match_fields=["email"])
    profiles(workspace, 6)
    Profile.objects.filter(workspace=workspace, external_id="p00002").update(
        ad_tracking_enabled=False)
    [run] = tick(utc(2026, 3, 2, 9, 0))
    assert run.entered == 6
    for step in (add, remove):
        assert_conserved(step)
    assert (metrics(add).entered, metrics(add).not_synced, metrics(remove).entered) == (6, 1, 0)
    with time_machine.travel(utc(2026, 3, 2, 10, 0, 1), tick=False):
        assert entries_release_due() == 6
    for step in (add, remove):
        assert_conserved(step)
    assert metrics(remove).entered == 6
