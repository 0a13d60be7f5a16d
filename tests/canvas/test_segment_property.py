"""For generated profiles, events and definitions, the compiled query selects exactly what a
plain Python reading of the definition selects (on SQLite and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from audiencesync.workspaces.attributes import datetime_canonical
from audiencesync.workspaces.models import Profile
from audiencesync.workspaces.track import TrackPayload, track_write
from canvas.models import Canvas, CanvasEntry
from canvas.segments.compile import definition_clean, definition_profiles
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
TODAY_START = datetime(2026, 12, 2, tzinfo=UTC)
STRINGS = ["", "a", "A", "ab", "Ba", "xyz", "Gold"]
NUMBERS = [-3, -1, 0, 1, 2, 2.5, 0.5, 1.0, 7]
MOMENTS = [NOW - timedelta(days=d, hours=h) for d in (0, 1, 3, 10, 40) for h in (0, 5)]
ELEMENTS = ["a", "A", "b"]
EVENT_NAMES = ["buy", "open"]
TYPES = {"s": "string", "n": "number", "b": "boolean", "d": "datetime", "t": "string_array"}
VALUES = {
    "s": st.sampled_from(STRINGS),
    "n": st.sampled_from(NUMBERS),
    "b": st.booleans(),
    "d": st.sampled_from(MOMENTS).map(lambda m: m.isoformat().replace("+00:00", "Z")),
    "t": st.lists(st.sampled_from(ELEMENTS), max_size=3),
}


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


# --- generated data ------------------------------------------------------------------------

profile_strategy = st.fixed_dictionaries({
    "attributes": st.fixed_dictionaries({}, optional={k: v for k, v in VALUES.items()}),
    "email": st.sampled_from(["", "x@example.com", "nope"]),
    "gaid": st.sampled_from(["", "38400000-8cf0-11bd-b23e-10b96e40000d"]),
    "ad_tracking_enabled": st.booleans(),
    "created_days_ago": st.integers(0, 20),
})
event_strategy = st.fixed_dictionaries({
    "profile": st.integers(0, 5),
    "name": st.sampled_from(EVENT_NAMES),
    "hours_ago": st.integers(0, 24 * 45),
    "properties": st.fixed_dictionaries({}, optional={"p": st.sampled_from(STRINGS),
                                                      "q": st.sampled_from(NUMBERS)}),
})
entry_strategy = st.tuples(st.integers(0, 5), st.integers(0, 30), st.booleans())


def comparison(key_type):
    type_ = TYPES[key_type]
    operators = {
        "string": ["equals", "not_equals", "any_of", "contains", "not_contains", "exists", "blank"],
        "number": ["equals", "not_equals", "any_of", "greater", "less", "exists", "blank"],
        "boolean": ["equals", "not_equals", "exists", "blank"],
        "datetime": ["before", "after", "more_than_days_ago", "less_than_days_ago", "exists",
                     "blank"],
        "string_array": ["contains", "not_contains", "exists", "blank"],
    }[type_]

    def value_for(operator):
        if operator in ("exists", "blank"):
            return st.none()
        if operator in ("more_than_days_ago", "less_than_days_ago"):
            return st.integers(0, 12)
        if operator == "any_of":
            return st.lists(VALUES[key_type], min_size=1, max_size=3)
        if operator in ("contains", "not_contains"):
            return st.sampled_from([s for s in STRINGS if s] + ELEMENTS)
        return VALUES[key_type]

    return st.sampled_from(operators).flatmap(
        lambda operator: value_for(operator).map(lambda value: (operator, value)))


attribute_filter = st.sampled_from(list(TYPES)).flatmap(lambda key: comparison(key).map(
    lambda ov: {"kind": "attribute", "attribute": key, "operator": ov[0], "value": ov[1]}))
property_filter = st.sampled_from(["p", "q"]).flatmap(
    lambda key: comparison("s" if key == "p" else "n").map(
        lambda ov: {"name": key, "operator": ov[0], "value": ov[1],
                    "type": "string" if key == "p" else "number"}))
optional_property = st.one_of(st.none(), property_filter)
event_filter = st.one_of(
    st.builds(lambda name, operator, count, days, prop: {
        "kind": "event", "event": name, "operator": operator, "count": count, "days": days,
        "property": prop},
        st.sampled_from(EVENT_NAMES), st.sampled_from(["at_least", "at_most", "exactly"]),
        st.integers(0, 3), st.one_of(st.none(), st.integers(1, 40)), optional_property),
    st.builds(lambda name, operator, days, prop: {
        "kind": "event", "event": name, "operator": operator, "days": days, "property": prop},
        st.sampled_from(EVENT_NAMES),
        st.sampled_from(["last_more_than_days_ago", "last_less_than_days_ago"]),
        st.integers(0, 40), optional_property),
    st.builds(lambda name, prop: {"kind": "event", "event": name, "operator": "never",
                                  "property": prop},
              st.sampled_from(EVENT_NAMES), optional_property),
)
identifier_filter = st.sampled_from(["email", "gaid", "ad_tracking"]).map(
    lambda which: {"kind": "identifier", "identifier": which})
created_filter = st.builds(lambda operator, days: {"kind": "created", "operator": operator,
                                                   "days": days},
                           st.sampled_from(["more_than_days_ago", "less_than_days_ago"]),
                           st.integers(0, 20))
canvas_filter = st.builds(lambda operator, days: {"kind": "canvas", "operator": operator,
                                                  "days": days if operator == "entered" else None},
                          st.sampled_from(["entered", "in_now"]),
                          st.one_of(st.none(), st.integers(1, 30)))
# Attributes and events have the most operators, so they come up most.
any_filter = st.one_of(attribute_filter, attribute_filter, event_filter, event_filter,
                       identifier_filter, created_filter, canvas_filter)
group = st.fixed_dictionaries({"join": st.sampled_from(["and", "or"]),
                               "filters": st.lists(any_filter, min_size=1, max_size=3)})
definition_strategy = st.fixed_dictionaries({"groups": st.lists(group, max_size=2),
                                             "exclusions": st.lists(group, max_size=2)})


# --- the plain reading ---------------------------------------------------------------------


def ascii_lower(text):
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def blank(value):
    return value is None or value == "" or value == []


def compare(value, type_, operator, operand):
    if operator.startswith("not_"):
        return not compare(value, type_, operator[4:], operand)
    if operator == "blank":
        return blank(value)
    if operator == "exists":
        return not blank(value)
    is_type = {
        "string": lambda v: isinstance(v, str), "datetime": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool), "string_array": lambda v: isinstance(v, list),
    }[type_]
    if not is_type(value):
        return False
    if operator == "equals":
        return value == operand
    if operator == "any_of":
        return value in operand
    if operator == "contains":
        if type_ == "string_array":
            return operand in value
        return ascii_lower(operand) in ascii_lower(value)
    if operator == "greater":
        return value > operand
    if operator == "less":
        return value < operand
    canonical_now = datetime_canonical(NOW)
    if operator == "before":
        return value < operand
    if operator == "after":
        return value > operand
    cutoff = datetime_canonical(NOW - timedelta(days=operand))
    if operator == "more_than_days_ago":
        return value < cutoff
    return cutoff < value <= canonical_now


def matches(item, person, events, entries):
    kind = item["kind"]
    if kind == "attribute":
        return compare(person["attributes"].get(item["attribute"]), item["type"],
                       item["operator"], item["value"])
    if kind == "identifier":
        if item["identifier"] == "ad_tracking":
            return person["ad_tracking_enabled"]
        return person[f"{item['identifier']}_reason"] == ""
    if kind == "created":
        cutoff = NOW - timedelta(days=item["days"])
        if item["operator"] == "more_than_days_ago":
            return person["created_at"] < cutoff
        return person["created_at"] > cutoff
    if kind == "canvas":
        mine = [e for e in entries if e["profile"] == person["pk"]]
        if item["operator"] == "in_now":
            return any(e["exited_at"] is None for e in mine)
        if item["days"] is None:
            return bool(mine)
        return any(e["entered_at"] > NOW - timedelta(days=item["days"]) for e in mine)
    prop = item["property"]
    times = [e["time"] for e in events if e["profile"] == person["pk"]
             and e["name"] == item["event"]
             and (prop is None or compare(e["properties"].get(prop["name"]), prop["type"],
                                          prop["operator"], prop["value"]))]
    operator = item["operator"]
    if operator == "never":
        return not times
    if operator.startswith("last_"):
        if not times:
            return False
        cutoff = NOW - timedelta(days=item["days"])
        return max(times) < cutoff if operator == "last_more_than_days_ago" else max(times) > cutoff
    if item["days"] is not None:
        start = TODAY_START - timedelta(days=item["days"] - 1)
        times = [t for t in times if t >= start]
    count = len(times)
    return {"at_least": count >= item["count"], "at_most": count <= item["count"],
            "exactly": count == item["count"]}[operator]


def selects(definition, person, events, entries):
    def meets(group):
        results = [matches(item, person, events, entries) for item in group["filters"]]
        return all(results) if group["join"] == "and" else any(results)

    return (all(meets(g) for g in definition["groups"])
            and not any(meets(g) for g in definition["exclusions"]))


# --- the property --------------------------------------------------------------------------


@seed(20261202)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(people=st.lists(profile_strategy, min_size=1, max_size=6),
       events=st.lists(event_strategy, max_size=12),
       entries=st.lists(entry_strategy, max_size=4),
       definitions=st.lists(definition_strategy, min_size=1, max_size=5))
def test_the_compiled_query_selects_what_the_definition_says(people, events, entries, definitions):
    with transaction.atomic():
        workspace = WorkspaceFactory()
        # Every attribute is catalogued (and typed) first, as a workspace that has seen them.
        track_write(workspace=workspace, now=NOW, payload=TrackPayload(attributes=[
            {"external_id": "catalogue", "s": "x", "n": 1, "b": True, "d": iso(NOW), "t": ["x"]}]))
        written = track_write(workspace=workspace, now=NOW, payload=TrackPayload(attributes=[
            {"external_id": f"p{i}", "email": p["email"], "gaid": p["gaid"],
             "ad_tracking_enabled": p["ad_tracking_enabled"],
             **{k: p["attributes"].get(k) for k in TYPES}}
            for i, p in enumerate(people)
        ], events=[
            {"external_id": f"p{e['profile'] % len(people)}", "name": e["name"],
             "time": iso(NOW - timedelta(hours=e["hours_ago"])), "properties": e["properties"]}
            for e in events
        ]))
        assert written.errors == []
        Profile.objects.filter(workspace=workspace, external_id="catalogue").delete()
        for i, p in enumerate(people):
            Profile.objects.filter(workspace=workspace, external_id=f"p{i}").update(
                created_at=NOW - timedelta(days=p["created_days_ago"], hours=3))
        ids = dict(Profile.objects.filter(workspace=workspace).values_list("external_id", "pk"))
        canvas = Canvas.objects.create(workspace=workspace, name="Welcome")
        entry_rows = []
        for index, (who, days_ago, exited) in enumerate(entries):
            # A profile is in a canvas at most once at a time: later entries of one exited.
            profile = ids[f"p{who % len(people)}"]
            entry_rows.append({
                "profile": profile, "entered_at": NOW - timedelta(days=days_ago, hours=index),
                "exited_at": NOW if exited or any(r["profile"] == profile for r in entry_rows)
                else None})
        CanvasEntry.objects.bulk_create([CanvasEntry(canvas=canvas, profile_id=r["profile"],
                                                     entered_at=r["entered_at"],
                                                     exited_at=r["exited_at"])
                                         for r in entry_rows])
        persons = list(Profile.objects.filter(workspace=workspace).values(
            "pk", "external_id", "attributes", "email_reason", "gaid_reason",
            "ad_tracking_enabled", "created_at"))
        raw_events = [{"profile": ids[f"p{e['profile'] % len(people)}"], "name": e["name"],
                       "time": NOW - timedelta(hours=e["hours_ago"]),
                       "properties": e["properties"]} for e in events]
        for generated in definitions:
            for part in generated.values():
                for g in part:
                    for item in g["filters"]:
                        if item["kind"] == "canvas":
                            item["canvas"] = canvas.pk
        # Each filter alone too: a rare filter meets the rare data it is about more often.
        alone = [{"groups": [{"join": "and", "filters": [item]}], "exclusions": []}
                 for generated in definitions for part in generated.values() for g in part
                 for item in g["filters"]]
        for generated in definitions + alone:
            definition = definition_clean(workspace=workspace, definition=generated)
            expected = {p["external_id"] for p in persons
                        if selects(definition, p, raw_events, entry_rows)}
            compiled = set(definition_profiles(workspace=workspace, definition=definition,
                                               now=NOW).values_list("external_id", flat=True))
            assert compiled == expected, definition
        transaction.set_rollback(True)
