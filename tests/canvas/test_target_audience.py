"""The target audience: a segment plus extra filters. Runs enter only its members; the
entries API and Enter all profiles answer the others as not eligible; a segment in use
cannot be deleted; launch names every missing piece of the entry settings at once."""

from datetime import time

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from audiencesync.workspaces.identifier_services import profiles_identifiers_refresh
from audiencesync.workspaces.models import Profile
from canvas.models import (
    Canvas,
    CanvasEntry,
    CanvasStatus,
    EntryMode,
    ScheduledRun,
    ScheduleKind,
)
from canvas.segments.compile import definition_clean
from canvas.segments.models import Segment
from canvas.services import canvases as canvas_services
from canvas.services.entries_bulk import canvas_enter_all_profiles
from canvas.services.entry_settings import EntrySettings, canvas_entry_settings_update
from canvas.services.scheduled_runs import scheduled_run_work, scheduled_runs_due
from canvas.services.targeting import segment_edit_warning, segment_use_problem
from tests import builders
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

WITH_EMAIL = {"groups": [{"join": "and", "filters": [{"kind": "identifier",
                                                      "identifier": "email"}]}]}
TRACKING = {"groups": [{"join": "and", "filters": [{"kind": "identifier",
                                                    "identifier": "ad_tracking"}]}]}


def segment(workspace, definition=WITH_EMAIL, name="Has email") -> Segment:
    return Segment.objects.create(workspace=workspace, name=name,
                                  definition=definition_clean(workspace=workspace,
                                                              definition=definition))


def people(workspace) -> dict[str, int]:
    """Four profiles: with email and tracking, email only, tracking only, neither."""
    rows = [("both", "a@example.com", True), ("email", "b@example.com", False),
            ("tracking", "", True), ("neither", "", False)]
    Profile.objects.bulk_create([Profile(workspace=workspace, external_id=x, email=e,
                                         ad_tracking_enabled=t) for x, e, t in rows])
    profiles_identifiers_refresh(workspace=workspace)
    return dict(Profile.objects.filter(workspace=workspace).values_list("external_id", "pk"))


@pytest.fixture
def targeted(sync_canvas, workspace):
    sync_canvas.target_segment = segment(workspace)
    sync_canvas.save()
    return sync_canvas


def test_the_entries_api_answers_users_outside_the_target_as_not_eligible(
        targeted, post_entries):
    answer = post_entries(targeted.pk, {"users": [
        {"external_id": "in-1", "email": "one@example.com"},
        {"external_id": "out-1"},
        {"external_id": "out-2", "phone": "+14155550100"},
        {"external_id": "bad", "email": 7},
    ]})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["entered"], body["not_eligible"], body["rejected"]) == (1, 2, 1)
    assert body["errors"][0]["index"] == 3  # an invalid user is an error; an ineligible one is not
    assert list(CanvasEntry.objects.values_list("profile__external_id", flat=True)) == ["in-1"]


def test_extra_filters_narrow_the_segment(targeted, workspace):
    ids = people(workspace)
    targeted.target_filters = definition_clean(workspace=workspace, definition=TRACKING)
    targeted.save()
    run = canvas_enter_all_profiles(canvas_id=targeted.pk)
    assert run.finished
    assert (run.result.entered, run.result.not_eligible) == (1, 3)
    assert list(CanvasEntry.objects.values_list("profile_id", flat=True)) == [ids["both"]]


def test_a_scheduled_run_enters_only_the_target_audience(targeted, workspace):
    ids = people(workspace)
    targeted.entry_mode = EntryMode.SCHEDULED
    targeted.schedule_kind = ScheduleKind.AT_LAUNCH
    targeted.save()
    [run_id] = scheduled_runs_due()
    assert scheduled_run_work(run_id=run_id)
    run = ScheduledRun.objects.get(pk=run_id)
    assert (run.eligible, run.entered) == (2, 2)
    assert sorted(CanvasEntry.objects.values_list("profile_id", flat=True)) == \
        sorted([ids["both"], ids["email"]])
    assert scheduled_runs_due() == []  # "at launch" runs once


def test_a_segment_in_use_cannot_be_deleted_and_says_where_it_is_used(targeted):
    used = targeted.target_segment
    assert segment_use_problem(segment=used) == (
        f"Segment Has email is the target audience of canvas {targeted.name}: choose another "
        "target audience there first.")
    with pytest.raises(ProtectedError):
        used.delete()
    assert segment_edit_warning(segment=used) == (
        f"Live canvas {targeted.name} will use the new definition from their next entry on.")
    unused = segment(targeted.workspace, name="Unused")
    assert segment_use_problem(segment=unused) is None
    unused.delete()


def test_launch_names_every_missing_entry_setting_at_once(workspace, owner):
    account = builders.connected_account(workspace)
    canvas = canvas_services.canvas_create(workspace=workspace, name="Weekly", user=owner.user)
    builders.sync_step(canvas, account=account, target=builders.audience(account))
    other = Canvas.objects.create(workspace=workspace, name="Gone soon")
    filters = {"groups": [{"join": "and", "filters": [
        {"kind": "canvas", "operator": "entered", "canvas": other.pk}]}]}
    canvas_entry_settings_update(canvas=canvas, settings=EntrySettings(
        entry_mode=EntryMode.SCHEDULED, schedule_kind=ScheduleKind.WEEKLY,
        reentry="after_wait", target_filters=filters))
    other.delete()
    problems = canvas_services.canvas_launch_problems(canvas=canvas)
    assert "Entry: the schedule has no time." in problems
    assert "Entry: choose at least one day of the week." in problems
    assert ("Entry: say how many hours or days a user waits before entering again."
            in problems)
    assert any(p.startswith("Entry: extra filters: Group 1, filter 1:") for p in problems)
    canvas_entry_settings_update(canvas=canvas, settings=EntrySettings(
        entry_mode=EntryMode.SCHEDULED, schedule_kind=ScheduleKind.WEEKLY,
        schedule_time=time(9, 0), schedule_weekdays=(0,)))
    assert not [p for p in canvas_services.canvas_launch_problems(canvas=canvas)
                if p.startswith("Entry")]


def test_the_entry_settings_form_saves_a_schedule_and_refuses_another_workspaces_segment(
        owner_client, workspace, owner):
    canvas = canvas_services.canvas_create(workspace=workspace, name="Form", user=owner.user)
    mine = segment(workspace, name="Mine")
    theirs = segment(WorkspaceFactory(), name="Theirs")
    url = reverse("canvas:entry_settings", args=[canvas.pk])
    form = {"entry_mode": "scheduled", "schedule_kind": "weekly", "schedule_time": "07:45",
            "schedule_weekdays": ["0", "4"], "reentry": "never",
            "target_segment_id": str(mine.pk), "cap_per_run": "500"}
    page = owner_client.post(url, form, follow=True).content.decode()
    assert "Entry settings saved." in page
    assert "Scheduled: every Monday and Friday at 07:45 UTC." in page
    canvas.refresh_from_db()
    assert (canvas.schedule_weekdays, canvas.target_segment, canvas.cap_per_run) == \
        ([0, 4], mine, 500)
    refused = owner_client.post(url, {**form, "target_segment_id": str(theirs.pk)})
    assert refused.status_code == 400
    assert "not one of the available choices" in refused.content.decode()
    bad = owner_client.post(url, {**form, "target_filters": '{"groups": [{"filters": [{"kind": "x"}]}]}'})
    assert bad.status_code == 400
    assert "Extra filters: Group 1, filter 1: Unknown filter kind" in bad.content.decode()
    canvas.refresh_from_db()
    assert canvas.target_segment == mine  # nothing of a refused form was saved


def test_a_launched_scheduled_canvas_shows_its_runs(owner_client, targeted, workspace):
    people(workspace)
    targeted.entry_mode = EntryMode.SCHEDULED
    targeted.save()
    [run_id] = scheduled_runs_due()
    scheduled_run_work(run_id=run_id)
    page = owner_client.get(reverse("canvas:detail", args=[targeted.pk])).content.decode()
    assert "Scheduled runs" in page and "Finished" in page
    assert "Target audience: segment Has email" in page
    assert targeted.status == CanvasStatus.ACTIVE


def test_enter_all_profiles_says_only_the_target_audience_enters(owner_client, targeted):
    page = owner_client.get(reverse("canvas:action", args=[targeted.pk, "enter-all"]))
    assert ("Only the members of its target audience (segment Has email) enter; the others "
            "are counted as not eligible.") in page.content.decode()


def test_the_segment_page_names_the_canvases_using_it_refuses_deleting_and_warns_on_edit(
        owner_client, targeted):
    used = targeted.target_segment
    page = owner_client.get(reverse("segments:detail", args=[used.pk])).content.decode()
    assert "Target audience of" in page and targeted.name in page
    assert "Delete segment</a>" not in page
    assert (f"Saving changes who enters: Live canvas {targeted.name} will use the new "
            "definition from their next entry on.") in page
    refused = owner_client.post(reverse("segments:delete", args=[used.pk]),
                                {"confirmed": "yes"}, follow=True).content.decode()
    assert f"Segment Has email is the target audience of canvas {targeted.name}" in refused
    assert Segment.objects.filter(pk=used.pk).exists()
