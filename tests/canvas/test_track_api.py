"""The track API as a sender sees it: its error contract, idempotency, what it writes."""

import hashlib
import threading
from datetime import timedelta

import orjson
import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audiencesync.workspaces import identifiers
from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.models import Event, EventSummary, Profile
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def post_track(client, api_key):
    """post_track(body, key=..., idempotency_key=...) -> response."""
    def post(body, *, key=api_key.secret, idempotency_key=None, **headers):
        if key is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        if idempotency_key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return client.post("/api/v1/users/track", data=data, content_type="application/json",
                           **headers)

    return post


def test_good_items_are_written_and_each_bad_one_is_reported_by_list_and_index(
    post_track, workspace
):
    now = timezone.now()
    response = post_track({
        "attributes": [
            {"external_id": "ana", "email": "ana@example.com", "plan": "gold",
             "lifetime_spend": 120.5},
            {"external_id": "bob", "plan": 3},  # plan is a string in this workspace
            {"email": "no-id@example.com"},
            {"external_id": "cy", "phone": 42},
            {"external_id": "dee", "Email": "x@example.com"},
        ],
        "events": [
            {"external_id": "ana", "name": "purchase", "time": iso(now),
             "properties": {"sku": "A1"}},
            {"external_id": "new-one", "name": "app_open", "time": iso(now)},
            {"external_id": "ana", "name": "purchase", "time": iso(now + timedelta(minutes=5))},
            {"external_id": "ana", "name": "purchase", "time": iso(now - timedelta(days=91))},
            {"external_id": "ana", "name": "", "time": iso(now)},
            {"external_id": "ana", "name": "big", "time": iso(now),
             "properties": {"blob": "x" * 5000}},
            {"external_id": "ana", "name": "naive", "time": "2026-01-01T00:00:00"},
        ],
    })

    assert response.status_code == 200
    body = response.json()
    assert (body["attributes_written"], body["events_written"], body["rejected"]) == (1, 2, 9)
    assert [(e["list"], e["index"], e["field"]) for e in body["errors"]] == [
        ("attributes", 1, "plan"), ("attributes", 2, "external_id"),
        ("attributes", 3, "phone"), ("attributes", 4, "Email"),
        ("events", 2, "time"), ("events", 3, "time"), ("events", 4, "name"),
        ("events", 5, "properties"), ("events", 6, "time"),
    ]
    messages = {(e["list"], e["index"]): e["message"] for e in body["errors"]}
    assert "a string, not a number" in messages[("attributes", 1)]
    assert "future" in messages[("events", 2)]
    assert "90 days" in messages[("events", 3)]
    ana = Profile.objects.get(workspace=workspace, external_id="ana")
    assert ana.email == "ana@example.com"
    assert ana.attributes == {"plan": "gold", "lifetime_spend": 120.5}
    assert Profile.objects.filter(workspace=workspace, external_id="new-one").exists()
    assert not Profile.objects.filter(external_id__in=["bob", "cy", "dee"]).exists()
    assert sorted(Event.objects.values_list("profile__external_id", "name")) == [
        ("ana", "purchase"), ("new-one", "app_open")]


def test_error_contract_401_400_413(post_track, settings):
    assert post_track({"events": []}, key=None).status_code == 401
    assert post_track({"events": []}, key="as_live_wrong").status_code == 401
    for bad in (b"{not json", b"[]", {"users": []}, {}, {"events": {}}):
        response = post_track(bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]
    settings.TRACK_API_MAX_ITEMS = 3
    response = post_track({"events": [{}] * 4})
    assert response.status_code == 413
    assert "the most is 3" in response.json()["error"]
    assert post_track({"events": []}, idempotency_key="bad key").status_code == 400


def test_a_repeated_idempotency_key_answers_the_first_answer_and_writes_nothing(post_track):
    now = iso(timezone.now())
    first = post_track({"events": [{"external_id": "ana", "name": "purchase", "time": now}]},
                       idempotency_key="call-1")
    again = post_track({"events": [{"external_id": "ana", "name": "purchase", "time": now}] * 2},
                       idempotency_key="call-1")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert EventSummary.objects.get().count == 1


def test_a_call_takes_the_same_number_of_queries_for_10_or_1000_events(workspace):
    from audiencesync.workspaces.track import TrackPayload, track_write

    def queries(count: int) -> int:
        now = timezone.now()
        payload = TrackPayload(
            attributes=[{"external_id": f"u{i}", f"plan_{count}": "gold", "email": f"u{i}@example.com"}
                        for i in range(count)],
            events=[{"external_id": f"u{i % (count // 2)}", "name": ("a", "b")[i % 2],
                     "time": iso(now - timedelta(minutes=i % 7)), "properties": {"i": i}}
                    for i in range(count)])
        with CaptureQueriesContext(connection) as captured:
            result = track_write(workspace=workspace, payload=payload)
        assert result.events_written == count
        return len(captured)

    assert queries(10) == queries(1000)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_calls_at_once_on_the_same_profiles_neither_deadlock_nor_lose_counts():
    workspace = WorkspaceFactory()
    secret = api_key_create(workspace=workspace, name="CRM").secret
    now = timezone.now()
    names = ["purchase", "app_open", "cart_abandoned"]
    errors = []

    def call(reverse: bool) -> None:
        from django.test import Client
        ids = list(range(300))
        if reverse:
            ids.reverse()
        events = [{"external_id": f"u{i}", "name": name, "time": iso(now)}
                  for i in ids for name in (reversed(names) if reverse else names)]
        attributes = [{"external_id": f"u{i}", "plan": "gold"} for i in ids]
        try:
            for _ in range(3):
                response = Client().post(
                    "/api/v1/users/track", data=orjson.dumps(
                        {"attributes": attributes, "events": events}),
                    content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
                assert response.status_code == 200, response.content
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call, args=(reverse,)) for reverse in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Event.objects.count() == 2 * 3 * 300 * 3
    assert set(EventSummary.objects.values_list("count", flat=True)) == {6}
    assert EventSummary.objects.count() == 300 * 3


def test_the_track_api_stores_each_identifier_normalised_and_hashed(post_track):
    def stored(profile, field):
        return tuple(getattr(profile, c) for c in identifiers.stored_columns(field))

    response = post_track({
        "attributes": [{"external_id": "a", "email": " Ana@Example.COM ",
                        "phone": "(415) 555-0123"}],
        "events": [{"external_id": "new", "name": "app_open", "time": iso(timezone.now())}],
    })
    assert response.status_code == 200, response.content

    a, new = Profile.objects.get(external_id="a"), Profile.objects.get(external_id="new")
    email = "ana@example.com"
    assert stored(a, "email") == (email, hashlib.sha256(email.encode()).hexdigest(), "")
    assert stored(a, "phone")[0] == "+14155550123"
    assert stored(a, "idfa") == ("", "", "missing")
    # a profile the events created has no identifier yet: each is missing, not unjudged
    assert {stored(new, f) for f in identifiers.FIELDS} == {("", "", "missing")}

    post_track({"attributes": [{"external_id": "a", "email": "bo@example.com"}]})
    a.refresh_from_db()
    assert stored(a, "email")[1] == hashlib.sha256(b"bo@example.com").hexdigest()
    assert stored(a, "phone")[0] == "+14155550123"  # a field not sent keeps its hash
