"""Action-based entry through the track API, the exit segment check, and what keeps such a
canvas from launching."""

from datetime import timedelta

import orjson
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audiencesync.errors import ServiceError
from canvas.models import CanvasEntry, EntryMode, Reentry, ScheduledRun, StepStats
from canvas.segments.compile import definition_clean
from canvas.segments.models import Segment
from canvas.services import canvases as canvas_services
from canvas.services.actions import exit_segments_due
from canvas.services.entry import canvas_enter_users
from canvas.services.entry_settings import EntrySettings, canvas_entry_settings_update
from tests import builders

pytestmark = pytest.mark.django_db


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def track(client, api_key):
    """track((external id, name, properties[, time]), ...) through POST /api/v1/users/track."""
    def post(*events):
        now = timezone.now()
        answer = client.post(
            "/api/v1/users/track", content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_key.secret}", data=orjson.dumps({"events": [
                {"external_id": who, "name": name, "properties": properties,
                 "time": iso(rest[0] if rest else now)}
                for who, name, properties, *rest in events]}))
        assert answer.status_code == 200, answer.content
        return answer.json()

    return post


def draft(workspace, track, **entry):
    """A draft canvas: TikTok add -> Delay 1 day, action-based on cart_abandoned."""
    canvas = canvas_services.canvas_create(workspace=workspace, name="Carts", user=None)
    account = builders.connected_account(workspace)
    builders.sync_step(canvas, account=account, target=builders.audience(account),
                       match_fields=("email",))
    delay = builders.delay_step(canvas)
    delay.delay_value, delay.delay_unit = 1, "days"
    delay.save()
    track(("seed", "cart_abandoned", {}), ("seed", "purchase", {}))  # known events
    canvas_entry_settings_update(canvas=canvas, settings=EntrySettings(
        entry_mode=EntryMode.ACTION, entry_event="cart_abandoned", **entry))
    return canvas


def inside(canvas) -> list[str]:
    return sorted(CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True)
                  .values_list("profile__external_id", flat=True))


def test_an_accepted_event_enters_its_user_when_its_property_matches(workspace, track):
    canvas = draft(workspace, track, entry_event_property="value", entry_event_value="100")
    canvas_services.canvas_launch(canvas=canvas)

    track(("ann", "cart_abandoned", {"value": 100}), ("bob", "cart_abandoned", {"value": 5}),
          ("cy", "app_open", {"value": 100}), ("dee", "cart_abandoned", {"value": "100"}))

    assert inside(canvas) == ["ann", "dee"]  # at once, in the call: no tick
    assert sum(StepStats.objects.filter(step__canvas=canvas).values_list(
        "entered", flat=True)) == 2


def test_events_accepted_before_launch_enter_nobody_and_an_events_own_time_plays_no_part(
        workspace, track):
    canvas = draft(workspace, track)
    track(("ann", "cart_abandoned", {}))
    canvas_services.canvas_launch(canvas=canvas)
    assert inside(canvas) == []

    an_hour_before_launch = timezone.now() - timedelta(hours=1)
    track(("bob", "cart_abandoned", {}, an_hour_before_launch))

    assert inside(canvas) == ["bob"]  # counted by when the track API accepted it


def test_the_entry_window_lets_in_only_events_accepted_while_it_is_open(workspace, track):
    now = timezone.now()
    canvas = draft(workspace, track, entry_window_start=now + timedelta(hours=1),
                   entry_window_end=now + timedelta(hours=2))
    canvas_services.canvas_launch(canvas=canvas)

    track(("early", "cart_abandoned", {}))
    with time_machine.travel(now + timedelta(minutes=90)):
        track(("on-time", "cart_abandoned", {}))
    with time_machine.travel(now + timedelta(hours=3)):
        track(("late", "cart_abandoned", {}))

    assert inside(canvas) == ["on-time"]


def test_re_entry_rules_and_users_already_inside_hold_for_action_based_entry(workspace, track):
    canvas = draft(workspace, track, reentry=Reentry.NEVER)
    canvas_services.canvas_exit_criteria_set(canvas=canvas, event_name="purchase")
    canvas_services.canvas_launch(canvas=canvas)

    track(("ann", "cart_abandoned", {}), ("ann", "cart_abandoned", {}))
    track(("ann", "cart_abandoned", {}))
    assert CanvasEntry.objects.filter(canvas=canvas).count() == 1
    track(("ann", "purchase", {}))
    assert inside(canvas) == []
    track(("ann", "cart_abandoned", {}))

    assert inside(canvas) == []  # "never": a user enters once


def test_ten_thousand_events_enter_their_users_in_as_many_queries_as_ten(workspace, track):
    canvas = draft(workspace, track)
    canvas_services.canvas_launch(canvas=canvas)

    def queries(people: range) -> int:
        with CaptureQueriesContext(connection) as captured:
            track(*[(f"u{n}", "cart_abandoned", {}) for n in people])
        return len(captured)

    assert queries(range(10)) == queries(range(10, 10_010))
    assert CanvasEntry.objects.filter(canvas=canvas).count() == 10_010


def never_purchased(workspace) -> Segment:
    return Segment.objects.create(workspace=workspace, name="Never purchased", definition=(
        definition_clean(workspace=workspace, definition={"groups": [{"join": "and", "filters": [
            {"kind": "event", "event": "purchase", "operator": "never"}]}]})))


def test_users_who_no_longer_match_the_exit_segment_leave_at_the_next_check(
        workspace, track, settings):
    settings.CANVAS_EXIT_CHECK_MINUTES = 15
    canvas = draft(workspace, track)
    canvas_services.canvas_exit_criteria_set(canvas=canvas, event_name="",
                                             segment_id=never_purchased(workspace).pk)
    canvas_services.canvas_launch(canvas=canvas)
    track(("ann", "cart_abandoned", {}), ("bob", "cart_abandoned", {}))
    assert exit_segments_due() == 0  # the first check: both still match

    track(("ann", "purchase", {}))
    assert exit_segments_due() == 0  # not due for another 15 minutes
    assert inside(canvas) == ["ann", "bob"]
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert exit_segments_due() == 1

    assert inside(canvas) == ["bob"]
    delay = canvas.steps.get(kind="delay")
    assert sum(StepStats.objects.filter(step=delay).values_list("exited", flat=True)) == 1


def test_a_scheduled_canvas_checks_its_exit_segment_at_each_run(workspace, track):
    canvas = draft(workspace, track)
    canvas_entry_settings_update(canvas=canvas, settings=EntrySettings(
        entry_mode=EntryMode.SCHEDULED, schedule_kind="daily",
        schedule_time=timezone.now().time()))
    canvas_services.canvas_exit_criteria_set(canvas=canvas, event_name="",
                                             segment_id=never_purchased(workspace).pk)
    canvas_services.canvas_launch(canvas=canvas)
    canvas_enter_users(canvas=canvas, users=builders.users(2))
    exit_segments_due()
    track(("u0", "purchase", {}))
    assert exit_segments_due() == 0  # no run since the last check
    ScheduledRun.objects.create(canvas=canvas, occurrence=timezone.now(),
                                started_at=timezone.now() + timedelta(seconds=1),
                                lease_until=timezone.now() + timedelta(minutes=2))
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):
        assert exit_segments_due() == 1

    assert inside(canvas) == ["u1"]


def test_launch_names_a_missing_entry_event_and_exit_criteria_that_no_longer_exist(
        workspace, track):
    canvas = draft(workspace, track)
    canvas_entry_settings_update(canvas=canvas, settings=EntrySettings(
        entry_mode=EntryMode.ACTION))
    segment = never_purchased(workspace)
    canvas_services.canvas_exit_criteria_set(canvas=canvas, event_name="refund",
                                             segment_id=segment.pk)
    segment.delete()

    with pytest.raises(ServiceError) as refused:
        canvas_services.canvas_launch(canvas=canvas)

    message = refused.value.message
    assert "Entry: an action-based canvas needs the event users enter on." in message
    assert "Exit criteria: no event 'refund' exists in this workspace" in message
    assert "Exit criteria: segment Never purchased no longer exists." in message
    canvas_entry_settings_update(canvas=canvas, settings=EntrySettings(
        entry_mode=EntryMode.ACTION, entry_event="checkout"))
    with pytest.raises(ServiceError) as refused:
        canvas_services.canvas_launch(canvas=canvas)
    assert "Entry: no event 'checkout' exists in this workspace" in refused.value.message


def test_entry_and_exit_settings_refuse_what_can_never_be_right_naming_the_field(
        workspace, track):
    canvas = draft(workspace, track)
    now = timezone.now()
    for settings_, field in [
        (EntrySettings(entry_mode=EntryMode.ACTION, entry_event="x" * 65), "entry_event"),
        (EntrySettings(entry_mode=EntryMode.ACTION, entry_event_property="plan"), "entry_event"),
        (EntrySettings(entry_mode=EntryMode.ACTION, entry_event="a", entry_window_start=now,
                       entry_window_end=now - timedelta(hours=1)), "entry_window_end"),
    ]:
        with pytest.raises(ServiceError) as refused:
            canvas_entry_settings_update(canvas=canvas, settings=settings_)
        assert refused.value.field == field
    with pytest.raises(ServiceError) as refused:
        canvas_services.canvas_exit_criteria_set(canvas=canvas, event_name="", event_value="x")
    assert refused.value.field == "event_property"
    canvas.refresh_from_db()
    assert canvas.entry_event == "cart_abandoned"  # nothing of a refused save is kept
