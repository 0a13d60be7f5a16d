"""Every segment filter kind against sets worked out by hand, on SQLite and PostgreSQL.

The people (now is 2026-12-02 12:00 UTC):
- ana: plan gold, spend 600, vip, tags [a, b], since 2 days ago; usable email and IDFA;
  purchase today, yesterday and 27 days ago (sku A1), app_open today.
- bob: plan "Golden Retriever", spend 500.0, not vip, tags [B], since 62 days ago; usable
  phone, no ad tracking; one purchase 31 days ago (sku b2).
- cy: plan silver, spend 12.5, tags []; an unusable email; purchase today (sku a1).
- dee: no custom attribute; a usable GAID; no event.
- fay: plan "", spend -3; app_open 184 days ago (before the retention: summaries only).
- eve: erased (had plan gold and a purchase).
"""

from datetime import UTC, datetime, timedelta

import pytest

from audiencesync.sync.services import profile_erase
from audiencesync.workspaces.models import Profile
from audiencesync.workspaces.track import TrackPayload, track_write
from canvas.models import Canvas, CanvasEntry
from canvas.segments.compile import (
    SegmentDefinitionError,
    definition_clean,
    definition_profiles,
    definition_q,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
EVERYONE = {"ana", "bob", "cy", "dee", "fay"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ago(**delta) -> str:
    return iso(NOW - timedelta(**delta))


def write(workspace, *, attributes=(), events=(), now=NOW):
    result = track_write(workspace=workspace, now=now, payload=TrackPayload(
        attributes=list(attributes), events=list(events)))
    assert result.errors == []


@pytest.fixture
def people(workspace):
    write(workspace, attributes=[
        {"external_id": "ana", "email": "Ana@Example.com", "idfa": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
         "plan": "gold", "spend": 600, "vip": True, "tags": ["a", "b"], "since": ago(days=2)},
        {"external_id": "bob", "phone": "+14155550123", "ad_tracking_enabled": False,
         "plan": "Golden Retriever", "spend": 500.0, "vip": False, "tags": ["B"],
         "since": ago(days=62)},
        {"external_id": "cy", "email": "not an email", "plan": "silver", "spend": 12.5, "tags": []},
        {"external_id": "dee", "gaid": "38400000-8cf0-11bd-b23e-10b96e40000d"},
        {"external_id": "fay", "plan": "", "spend": -3},
        {"external_id": "eve", "plan": "gold", "email": "eve@example.com"},
    ], events=[
        {"external_id": "ana", "name": "purchase", "time": ago(hours=11),
         "properties": {"sku": "A1", "amount": 30}},
        {"external_id": "ana", "name": "purchase", "time": ago(days=1),
         "properties": {"sku": "A1", "amount": 30}},
        {"external_id": "ana", "name": "purchase", "time": ago(days=27),
         "properties": {"sku": "A1", "amount": 30}},
        {"external_id": "ana", "name": "app_open", "time": ago(hours=1)},
        {"external_id": "bob", "name": "purchase", "time": ago(days=31),
         "properties": {"sku": "b2", "amount": 5}},
        {"external_id": "cy", "name": "purchase", "time": ago(hours=3), "properties": {"sku": "a1"}},
        {"external_id": "eve", "name": "purchase", "time": ago(hours=3)},
    ])
    # Before the retention of NOW: written back then, kept now only in the summaries.
    write(workspace, now=NOW - timedelta(days=183), events=[
        {"external_id": "fay", "name": "app_open", "time": ago(days=184)}])
    profile_erase(profile=Profile.objects.get(workspace=workspace, external_id="eve"))
    return workspace


def selected(workspace, *groups, exclusions=()):
    definition = definition_clean(workspace=workspace, definition={
        "groups": [{"join": join, "filters": list(filters)} for join, *filters in groups],
        "exclusions": [{"join": join, "filters": list(filters)} for join, *filters in exclusions],
    })
    return set(definition_profiles(workspace=workspace, definition=definition, now=NOW)
               .values_list("external_id", flat=True))


def attribute(name, operator, value=None):
    return {"kind": "attribute", "attribute": name, "operator": operator, "value": value}


def one(workspace, item):
    return selected(workspace, ("and", item))


@pytest.mark.parametrize(("name", "operator", "value", "expected"), [
    ("plan", "equals", "gold", {"ana"}),
    ("plan", "equals", "Gold", set()),
    ("plan", "not_equals", "gold", {"bob", "cy", "dee", "fay"}),
    ("plan", "any_of", ["gold", "silver", "bronze"], {"ana", "cy"}),
    ("plan", "any_of", "gold\nsilver\n", {"ana", "cy"}),
    ("plan", "contains", "GOLD", {"ana", "bob"}),
    ("plan", "contains", "retriever", {"bob"}),
    ("plan", "not_contains", "gold", {"cy", "dee", "fay"}),
    ("plan", "exists", None, {"ana", "bob", "cy"}),
    ("plan", "blank", None, {"dee", "fay"}),
    ("spend", "equals", 500, {"bob"}),
    ("spend", "equals", "600.0", {"ana"}),
    ("spend", "not_equals", 500, {"ana", "cy", "dee", "fay"}),
    ("spend", "greater", 500, {"ana"}),
    ("spend", "greater", 499.99, {"ana", "bob"}),
    ("spend", "less", 12.5, {"fay"}),
    ("spend", "less", "13", {"cy", "fay"}),
    ("spend", "any_of", [500, 12.5, 7], {"bob", "cy"}),
    ("spend", "exists", None, {"ana", "bob", "cy", "fay"}),
    ("spend", "blank", None, {"dee"}),
    ("vip", "equals", True, {"ana"}),
    ("vip", "equals", "false", {"bob"}),
    ("vip", "not_equals", True, {"bob", "cy", "dee", "fay"}),
    ("tags", "contains", "b", {"ana"}),
    ("tags", "contains", "B", {"bob"}),
    ("tags", "not_contains", "b", {"bob", "cy", "dee", "fay"}),
    ("tags", "exists", None, {"ana", "bob"}),
    ("tags", "blank", None, {"cy", "dee", "fay"}),
    ("since", "before", ago(days=30), {"bob"}),
    ("since", "after", "2026-11-01T00:00:00+01:00", {"ana"}),
    ("since", "more_than_days_ago", 1, {"ana", "bob"}),
    ("since", "more_than_days_ago", 3, {"bob"}),
    ("since", "less_than_days_ago", 3, {"ana"}),
    ("since", "less_than_days_ago", 100, {"ana", "bob"}),
    ("since", "blank", None, {"cy", "dee", "fay"}),
])
def test_attribute_operators(people, name, operator, value, expected):
    assert one(people, attribute(name, operator, value)) == expected


def test_a_profile_without_the_attribute_matches_only_blank_not_equals_and_not_contains(people):
    """dee has no custom attribute at all."""
    matching = {(name, operator) for name, operator, value in [
        ("plan", "equals", "gold"), ("plan", "not_equals", "gold"), ("plan", "any_of", ["x"]),
        ("plan", "contains", "g"), ("plan", "not_contains", "g"), ("plan", "exists", None),
        ("plan", "blank", None), ("spend", "greater", -100), ("spend", "less", 100),
        ("since", "before", ago(days=0)), ("since", "after", ago(days=999)),
        ("since", "more_than_days_ago", 0), ("since", "less_than_days_ago", 999),
        ("tags", "contains", "a"), ("tags", "not_contains", "a"),
    ] if "dee" in one(people, attribute(name, operator, value))}
    assert matching == {("plan", "not_equals"), ("plan", "not_contains"), ("plan", "blank"),
                        ("tags", "not_contains")}


def event(name, operator, count=None, days=None, prop=None):
    return {"kind": "event", "event": name, "operator": operator, "count": count, "days": days,
            "property": prop}


@pytest.mark.parametrize(("item", "expected"), [
    (event("purchase", "at_least", 2, 30), {"ana"}),
    (event("purchase", "at_least", 1, 1), {"ana", "cy"}),
    (event("purchase", "at_least", 3, 28), {"ana"}),
    (event("purchase", "at_least", 3, 27), set()),  # 27 days: from 2026-11-06, after the 3rd
    (event("purchase", "at_least", 1, 32), {"ana", "bob", "cy"}),
    (event("purchase", "at_least", 0, 7), EVERYONE),
    (event("purchase", "at_most", 1, 30), {"bob", "cy", "dee", "fay"}),
    (event("purchase", "at_most", 0, 30), {"bob", "dee", "fay"}),
    (event("purchase", "exactly", 2, 2), {"ana"}),
    (event("purchase", "exactly", 0, 2), {"bob", "dee", "fay"}),
    (event("purchase", "exactly", 3, None), {"ana"}),
    (event("purchase", "at_least", 1, None), {"ana", "bob", "cy"}),
    (event("app_open", "at_least", 1, None), {"ana", "fay"}),
    (event("app_open", "last_more_than_days_ago", days=30), {"fay"}),
    (event("app_open", "last_less_than_days_ago", days=1), {"ana"}),
    (event("purchase", "last_more_than_days_ago", days=30), {"bob"}),
    (event("purchase", "last_less_than_days_ago", days=31), {"ana", "cy"}),
    (event("purchase", "never"), {"dee", "fay"}),
    (event("app_open", "never"), {"bob", "cy", "dee"}),
    (event("purchase", "at_least", 2, None, {"name": "sku", "operator": "equals", "value": "A1"}),
     {"ana"}),
    (event("purchase", "at_least", 1, None, {"name": "sku", "operator": "contains", "value": "a"}),
     {"ana", "cy"}),
    (event("purchase", "at_least", 2, 2, {"name": "amount", "operator": "greater", "value": 10}),
     {"ana"}),
    (event("purchase", "at_most", 1, None, {"name": "amount", "operator": "greater", "value": 10}),
     {"bob", "cy", "dee", "fay"}),
    (event("purchase", "exactly", 1, None, {"name": "amount", "operator": "blank"}), {"cy"}),
    (event("purchase", "never", prop={"name": "sku", "operator": "equals", "value": "b2"}),
     {"ana", "cy", "dee", "fay"}),
    (event("purchase", "last_more_than_days_ago", days=20,
           prop={"name": "sku", "operator": "not_equals", "value": "A1"}), {"bob"}),
    (event("purchase", "last_less_than_days_ago", days=20,
           prop={"name": "sku", "operator": "not_equals", "value": "A1"}), {"cy"}),
])
def test_event_filters(people, item, expected):
    assert one(people, item) == expected


@pytest.mark.parametrize(("identifier", "expected"), [
    ("email", {"ana"}), ("phone", {"bob"}), ("idfa", {"ana"}), ("gaid", {"dee"}),
    ("ad_tracking", {"ana", "cy", "dee", "fay"}),
])
def test_identifier_filters(people, identifier, expected):
    assert one(people, {"kind": "identifier", "identifier": identifier}) == expected


def test_profile_created_more_or_less_than_days_ago(people):
    Profile.objects.filter(workspace=people, external_id="ana").update(created_at=NOW - timedelta(days=40))
    Profile.objects.filter(workspace=people, external_id="bob").update(created_at=NOW - timedelta(days=5))
    Profile.objects.filter(workspace=people).exclude(external_id__in=["ana", "bob"]).update(
        created_at=NOW - timedelta(hours=1))
    older = {"kind": "created", "operator": "more_than_days_ago", "days": 30}
    newer = {"kind": "created", "operator": "less_than_days_ago", "days": 7}
    assert one(people, older) == {"ana"}
    assert one(people, newer) == {"bob", "cy", "dee", "fay"}


def test_canvas_history(people):
    profiles = dict(Profile.objects.filter(workspace=people).values_list("external_id", "pk"))
    summer = Canvas.objects.create(workspace=people, name="Summer")
    winter = Canvas.objects.create(workspace=people, name="Winter")
    for name, canvas, entered, exited in [
        ("ana", summer, NOW - timedelta(days=40), NOW - timedelta(days=39)),
        ("ana", summer, NOW - timedelta(days=2), None),
        ("bob", summer, NOW - timedelta(days=10), NOW - timedelta(days=9)),
        ("cy", winter, NOW - timedelta(days=1), None),
    ]:
        CanvasEntry.objects.create(canvas=canvas, profile_id=profiles[name], entered_at=entered,
                                   exited_at=exited)

    def canvas(operator, which, days=None):
        return one(people, {"kind": "canvas", "operator": operator, "canvas": which.pk,
                            "days": days})

    assert canvas("entered", summer) == {"ana", "bob"}
    assert canvas("entered", summer, 7) == {"ana"}
    assert canvas("entered", summer, 30) == {"ana", "bob"}
    assert canvas("in_now", summer) == {"ana"}
    assert canvas("in_now", winter) == {"cy"}


def test_groups_join_and_or_and_exclusions_take_away(people):
    gold_or_silver = ("or", attribute("plan", "equals", "gold"), attribute("plan", "equals", "silver"))
    spent = ("and", attribute("spend", "greater", 10))
    assert selected(people, gold_or_silver) == {"ana", "cy"}
    assert selected(people, gold_or_silver, spent) == {"ana", "cy"}
    assert selected(people, ("and", attribute("spend", "greater", 10),
                             attribute("plan", "contains", "gold"))) == {"ana", "bob"}
    assert selected(people, spent, exclusions=[
        ("or", {"kind": "identifier", "identifier": "email"},
         {"kind": "identifier", "identifier": "phone"})]) == {"cy"}
    # An exclusion group joined by and takes away only who meets all of it.
    assert selected(people, exclusions=[
        ("and", attribute("plan", "contains", "gold"), {"kind": "identifier", "identifier": "phone"})
    ]) == {"ana", "cy", "dee", "fay"}


def test_no_group_is_everyone_live_and_an_erased_profile_never_matches(people):
    assert selected(people) == EVERYONE
    assert one(people, attribute("plan", "blank")) == {"dee", "fay"}
    assert "eve" not in selected(people, exclusions=[("and", event("purchase", "at_least", 1))])


def test_the_demo_segment_high_value(people):
    assert selected(people, ("and", attribute("spend", "greater", 500),
                             event("purchase", "at_least", 2, 30),
                             {"kind": "identifier", "identifier": "email"})) == {"ana"}


def test_a_definition_only_sees_its_own_workspace(people, workspace):
    from tests.factories import WorkspaceFactory

    other = WorkspaceFactory()
    write(other, attributes=[{"external_id": "ana", "plan": "gold"}])
    definition = definition_clean(workspace=other, definition={"groups": [
        {"join": "and", "filters": [attribute("plan", "equals", "gold")]}]})
    assert list(definition_profiles(workspace=other, definition=definition, now=NOW)
                .values_list("workspace_id", flat=True)) == [other.pk]
    # A canvas filter's Q can be ANDed onto another definition's, as a canvas does.
    extra = definition_q(definition=definition, workspace_id=other.pk, now=NOW)
    assert Profile.objects.filter(extra, workspace=other).count() == 1


@pytest.mark.parametrize(("definition", "message"), [
    ({"groups": [{"join": "and", "filters": [attribute("nope", "equals", "x")]}]},
     "Group 1, filter 1: This workspace has no custom attribute 'nope'"),
    ({"groups": [{"join": "and", "filters": [attribute("spend", "contains", "x")]}]},
     "Group 1, filter 1: A number takes"),
    ({"groups": [], "exclusions": [{"join": "and", "filters": [
        event("purchase", "at_least", 1), attribute("spend", "greater", "lots")]}]},
     "Exclusion group 1, filter 2: 'lots' is not a number."),
    ({"groups": [{"join": "and", "filters": [attribute("plan", "any_of", ["x"] * 257)]}]},
     "At most 256 values, not 257."),
    ({"groups": [{"join": "xor", "filters": []}]}, "Group 1: filters are joined by and or or"),
    ({"groups": [{"join": "and", "filters": [event("purchase", "at_least", 2, 0)]}]},
     "The number of days must be between 1 and 36,500, not 0."),
    ({"groups": [{"join": "and", "filters": [attribute("since", "before", "yesterday")]}]},
     "Give a date-time in ISO 8601"),
    ({"groups": [{"join": "and", "filters": [{"kind": "canvas", "operator": "entered",
                                               "canvas": 999999}]}]},
     "Choose a canvas of this workspace."),
    ({"groups": [{"join": "and", "filters": [event("buy\x00", "never")]}]},
     "Group 1, filter 1: Contains a NUL character."),
    ({"groups": [{"join": "and", "filters": [attribute("plan", "any_of", ["a", "b\x00"])]}]},
     "Group 1, filter 1: Contains a NUL character."),
])
def test_a_bad_definition_is_refused_saying_where(people, definition, message):
    with pytest.raises(SegmentDefinitionError) as refused:
        definition_clean(workspace=people, definition=definition)
    assert message in refused.value.message


def test_a_saved_segment_selects_what_its_definition_selects(people):
    from canvas.models import Segment
    from canvas.segments.compile import segment_profiles

    definition = definition_clean(workspace=people, definition={
        "groups": [{"join": "and", "filters": [attribute("spend", "greater", 100)]}],
        "exclusions": [{"join": "and", "filters": [{"kind": "identifier", "identifier": "phone"}]}]})
    segment = Segment.objects.create(workspace=people, name="Spenders", definition=definition)
    assert set(segment_profiles(segment=segment, now=NOW).values_list("external_id", flat=True)) \
        == {"ana"}
