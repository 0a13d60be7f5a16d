"""Typed attributes and custom events as the ground floor writes them (the track API's data)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count, Max, Min
from django.utils import timezone
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from audiencesync.sync.services import profile_erase, sync_history_purge
from audiencesync.workspaces.attributes import attribute_catalogue_count
from audiencesync.workspaces.models import (
    AttributeDefinition,
    Event,
    EventDailyCount,
    EventSummary,
    Profile,
)
from audiencesync.workspaces.track import TrackPayload, track_write
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def write(workspace, *, attributes=(), events=(), now=None):
    return track_write(workspace=workspace, now=now,
                       payload=TrackPayload(attributes=list(attributes), events=list(events)))


def attributes_of(workspace, external_id):
    return Profile.objects.get(workspace=workspace, external_id=external_id).attributes


def test_the_first_value_fixes_the_type_and_a_value_of_another_type_rejects_its_item(workspace):
    first = write(workspace, attributes=[
        {"external_id": "ana", "plan": "gold", "spend": 10, "vip": True,
         "tags": ["a", "b"], "since": "2026-11-01T10:00:00+02:00"},
    ])
    assert first.errors == []
    assert dict(AttributeDefinition.objects.filter(workspace=workspace)
                .values_list("name", "type")) == {
        "plan": "string", "spend": "number", "vip": "boolean", "tags": "string_array",
        "since": "datetime"}

    second = write(workspace, attributes=[
        {"external_id": "bob", "spend": "lots"},
        {"external_id": "cy", "vip": 1, "plan": "silver"},
        {"external_id": "dee", "since": "yesterday"},
        {"external_id": "eve", "spend": 12.5, "plan": "2026-01-01T00:00:00Z"},
        {"external_id": "fay", "tags": ["a", 1]},
        {"external_id": "gus", "nested": {"a": 1}},
    ])

    assert second.attributes_written == 1
    assert [(e["index"], e["field"]) for e in second.errors] == [
        (0, "spend"), (1, "vip"), (2, "since"), (4, "tags"), (5, "nested")]
    assert "a number, not a string" in second.errors[0]["message"]
    assert "a date-time" in second.errors[2]["message"]
    # A string attribute takes text that happens to read as a date, as sent.
    assert attributes_of(workspace, "eve") == {"spend": 12.5, "plan": "2026-01-01T00:00:00Z"}
    assert not Profile.objects.filter(external_id__in=["bob", "cy", "dee", "fay", "gus"]).exists()


def test_a_rejected_item_fixes_no_type(workspace):
    result = write(workspace, attributes=[
        {"external_id": "ana", "score": "high", "phone": 42},  # rejected for its phone
        {"external_id": "bob", "score": 7},
    ])

    assert [(e["index"], e["field"]) for e in result.errors] == [(0, "phone")]
    assert AttributeDefinition.objects.get(workspace=workspace, name="score").type == "number"


def test_null_removes_an_attribute_and_others_are_kept(workspace):
    write(workspace, attributes=[{"external_id": "ana", "plan": "gold", "spend": 3}])
    write(workspace, attributes=[{"external_id": "ana", "plan": None, "email": "a@example.com"}])

    ana = Profile.objects.get(workspace=workspace, external_id="ana")
    assert ana.attributes == {"spend": 3}
    assert ana.email == "a@example.com"


def test_date_times_are_stored_in_one_utc_form_and_compare_alike_on_every_database(workspace):
    write(workspace, attributes=[
        {"external_id": "early", "since": "2026-03-01T23:30:00-05:00"},  # 04:30 UTC on the 2nd
        {"external_id": "late", "since": "2026-03-02T05:00:00+00:00"},
        {"external_id": "latest", "since": "2026-03-02T07:00:00.25+01:00"},
    ])

    assert attributes_of(workspace, "early")["since"] == "2026-03-02T04:30:00.000000Z"
    assert attributes_of(workspace, "latest")["since"] == "2026-03-02T06:00:00.250000Z"
    after = Profile.objects.filter(workspace=workspace,
                                   attributes__since__gt="2026-03-02T04:45:00.000000Z")
    assert sorted(after.values_list("external_id", flat=True)) == ["late", "latest"]
    ordered = Profile.objects.filter(workspace=workspace).order_by("attributes__since")
    assert list(ordered.values_list("external_id", flat=True)) == ["early", "late", "latest"]


def test_integers_and_floats_compare_as_numbers(workspace):
    write(workspace, attributes=[{"external_id": "a", "spend": 9}, {"external_id": "b", "spend": 10},
                                 {"external_id": "c", "spend": 9.5}])

    above = Profile.objects.filter(workspace=workspace, attributes__spend__gt=9.2)
    assert sorted(above.values_list("external_id", flat=True)) == ["b", "c"]


def test_reserved_and_malformed_names_are_refused(workspace):
    result = write(workspace, attributes=[
        {"external_id": "a", "External_ID": "x"},
        {"external_id": "b", "AD_TRACKING_ENABLED": "x"},
        {"external_id": "c", "1st": "x"},
        {"external_id": "d", "has space": "x"},
        {"external_id": "e", "x" * 65: "x"},
        {"external_id": "f", "_ok_" + "x" * 60: "x"},
    ])

    assert [(e["index"]) for e in result.errors] == [0, 1, 2, 3, 4]
    assert "field of its own" in result.errors[0]["message"]
    assert result.attributes_written == 1


def test_a_workspace_has_at_most_500_attributes(workspace):
    write(workspace, attributes=[{"external_id": "a", **{f"a{i}": i for i in range(499)}}])

    result = write(workspace, attributes=[{"external_id": "b", "one_more": 1},
                                          {"external_id": "c", "and_another": 1},
                                          {"external_id": "d", "a7": 8}])

    assert [(e["index"], e["field"]) for e in result.errors] == [(1, "and_another")]
    assert "500" in result.errors[0]["message"]
    assert AttributeDefinition.objects.filter(workspace=workspace).count() == 500


def test_the_catalogue_count_says_how_many_profiles_have_each_attribute(workspace):
    write(workspace, attributes=[{"external_id": "a", "plan": "gold", "spend": 1},
                                 {"external_id": "b", "plan": "free"}])

    attribute_catalogue_count(workspace=workspace)

    counted = {d.name: (d.profiles_with_it, d.counted_at is not None)
               for d in AttributeDefinition.objects.filter(workspace=workspace)}
    assert counted == {"plan": (2, True), "spend": (1, True)}


def recount(workspace):
    events = Event.objects.filter(workspace=workspace)
    summaries = {(r["profile_id"], r["name"]): (r["n"], r["first"], r["last"])
                 for r in events.values("profile_id", "name").annotate(
                     n=Count("id"), first=Min("time"), last=Max("time"))}
    daily = Counter((e.profile_id, e.name, e.time.astimezone(UTC).date()) for e in events)
    return summaries, dict(daily)


def kept(workspace):
    summaries = {(s.profile_id, s.name): (s.count, s.first_at, s.last_at)
                 for s in EventSummary.objects.filter(workspace=workspace)}
    daily = {(d.profile_id, d.name, d.day): d.count
             for d in EventDailyCount.objects.filter(workspace=workspace)}
    return summaries, daily


event_plan = st.tuples(st.integers(0, 3), st.sampled_from(["purchase", "app_open", "cart"]),
                       st.integers(0, 4 * 24 * 60))
call_plan = st.lists(event_plan, min_size=0, max_size=12)


@seed(13)
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(calls=st.lists(call_plan, min_size=1, max_size=5))
def test_summaries_and_daily_counts_equal_a_recount_of_the_raw_events(calls):
    workspace = WorkspaceFactory()
    now = timezone.now()
    for call in calls:
        write(workspace, events=[
            {"external_id": f"u{who}", "name": name,
             "time": iso(now - timedelta(minutes=minutes))}
            for who, name, minutes in call])

    assert kept(workspace) == recount(workspace)


def test_the_retention_purge_drops_raw_events_and_keeps_their_summaries(settings, workspace):
    settings.EVENT_RETENTION_DAYS = 90
    now = timezone.now()
    then = now - timedelta(days=100)
    write(workspace, now=then, events=[
        {"external_id": "ana", "name": "purchase", "time": iso(then - timedelta(hours=h))}
        for h in range(3)])
    write(workspace, events=[{"external_id": "ana", "name": "purchase", "time": iso(now)}])
    before = kept(workspace)

    assert sync_history_purge(now=now).events == 3

    assert list(Event.objects.values_list("time", flat=True)) == [now]
    assert kept(workspace) == before
    assert EventSummary.objects.get().count == 4


def test_erasure_deletes_the_profiles_events_and_summaries(workspace):
    now = iso(timezone.now())
    write(workspace, events=[{"external_id": who, "name": "purchase", "time": now}
                             for who in ("ana", "bob")])

    profile_erase(profile=Profile.objects.get(external_id="ana"))

    assert list(Event.objects.values_list("profile__external_id", flat=True)) == ["bob"]
    assert list(EventSummary.objects.values_list("profile__external_id", flat=True)) == ["bob"]
    assert list(EventDailyCount.objects.values_list("profile__external_id", flat=True)) == [
        "bob"]


def test_the_profile_page_shows_the_latest_events_and_the_summaries(owner_client, workspace):
    now = timezone.now()
    write(workspace, events=[
        {"external_id": "ana", "name": "purchase", "time": iso(now - timedelta(hours=h)),
         "properties": {"sku": f"SKU-{h}"}} for h in range(3)])
    ana = Profile.objects.get(workspace=workspace, external_id="ana")

    page = owner_client.get(f"/profiles/{ana.pk}/").content.decode()

    assert '<tr data-event="purchase"><td>purchase</td><td class="num">3</td>' in page
    assert "SKU-0" in page and "SKU-2" in page


def test_the_attributes_page_lists_each_attribute_with_its_count_and_when(owner_client,
                                                                          workspace):
    from audiencesync.sync.schedules import SCHEDULES
    from audiencesync.workspaces import tasks

    write(workspace, attributes=[{"external_id": "a", "plan": "gold"},
                                 {"external_id": "b", "plan": "free", "spend": 3}])
    assert "not counted yet" in owner_client.get("/profiles/attributes/").content.decode()

    tasks.count_attributes()
    page = owner_client.get("/profiles/attributes/").content.decode()

    assert ("audiencesync.workspaces.tasks.count_attributes", 60) in SCHEDULES.values()
    assert '<tr data-attribute="plan">' in page and "not counted yet" not in page
    assert '<td class="num">2</td>' in page and "Number" in page
