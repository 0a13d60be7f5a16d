"""The public entries API as a sender sees it: status codes, answers, and who entered."""

import hashlib
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.models import Profile
from canvas.models import CanvasEntry, CanvasStatus, ItemState, SyncItem
from canvas.services.entries_api import canvas_entries_submit
from tests import builders
from tests.factories import ProfileFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entered_ids(canvas) -> set[str]:
    return set(CanvasEntry.objects.filter(canvas=canvas)
               .values_list("profile__external_id", flat=True))


def test_good_users_enter_and_each_bad_one_is_rejected_with_its_index_and_field(
    sync_canvas, post_entries
):
    users = [
        {"external_id": "ana", "email": " Ana@Example.com ", "phone": "+1 415 555 0123"},
        {"external_id": "idfa-only", "idfa": "6d92078a-8246-4ba4-ae5b-76104861e7dc"},
        {"external_id": "no-consent", "email": "nc@example.com", "ad_tracking_enabled": False},
        {"email": "no-id@example.com"},
        {"external_id": "num-email", "email": 42},
        {"external_id": "typo", "e_mail": "x@example.com"},
        {"external_id": "flag", "ad_tracking_enabled": "yes"},
        "just-a-string",
        {"external_id": "   "},
        {"external_id": "x" * 256},
        {"external_id": "ana", "email": "second@example.com"},
        {"external_id": "nul", "email": "a\x00@example.com"},
    ]

    response = post_entries(sync_canvas.pk, {"users": users})

    assert response.status_code == 200
    body = response.json()
    assert (body["entered"], body["already_in_canvas"], body["rejected"]) == (3, 0, 9)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (3, "external_id"), (4, "email"), (5, "e_mail"), (6, "ad_tracking_enabled"), (7, None),
        (8, "external_id"), (9, "external_id"), (10, "external_id"), (11, "email"),
    ]
    assert "index 0" in body["errors"][7]["message"]
    assert entered_ids(sync_canvas) == {"ana", "idfa-only", "no-consent"}
    assert set(Profile.objects.values_list("external_id", flat=True)) == {
        "ana", "idfa-only", "no-consent"}

    items = {i.profile.external_id: i for i in SyncItem.objects.select_related("profile")}
    assert items["ana"].state == ItemState.PENDING
    assert items["ana"].hashes == {"email": sha256("ana@example.com"),
                                   "phone": sha256("+14155550123")}
    assert items["ana"].audience.external_id == "123" and items["ana"].action == "add"
    # The step matches email and phone: an IDFA alone cannot be synced.
    assert items["idfa-only"].state == ItemState.NOT_SYNCED
    assert "email: missing" in items["idfa-only"].reason
    assert items["no-consent"].state == ItemState.NOT_SYNCED
    assert items["no-consent"].reason == "no_ad_tracking_consent"


def test_second_call_counts_users_still_in_the_canvas_and_enters_only_newcomers(
    sync_canvas, post_entries
):
    post_entries(sync_canvas.pk, {"users": builders.users(3)})

    body = post_entries(sync_canvas.pk, {"users": builders.users(5)}).json()

    assert (body["entered"], body["already_in_canvas"], body["rejected"]) == (2, 3, 0)
    assert SyncItem.objects.count() == 5


def test_upsert_writes_only_the_fields_sent(sync_canvas, workspace, post_entries):
    ProfileFactory(workspace=workspace, external_id="ana", email="old@example.com",
                   phone="+14155550123", ad_tracking_enabled=True)

    post_entries(sync_canvas.pk, {"users": [{"external_id": "ana", "email": "new@example.com"}]})

    profile = Profile.objects.get(external_id="ana")
    assert (profile.email, profile.phone, profile.ad_tracking_enabled) == (
        "new@example.com", "+14155550123", True)
    assert SyncItem.objects.get().hashes == {"email": sha256("new@example.com"),
                                             "phone": sha256("+14155550123")}


def test_call_marks_the_key_used(sync_canvas, post_entries, api_key):
    assert api_key.api_key.last_used_at is None
    post_entries(sync_canvas.pk, {"users": []})
    api_key.api_key.refresh_from_db()
    assert api_key.api_key.last_used_at is not None


@pytest.mark.parametrize(("body", "says"), [
    (b'{"users": [\n  {"external_id": "a",}\n]}', "line 2, column"),
    (b"", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b'[{"external_id": "a"}]', "must be a JSON object"),
    (b'{"user": []}', "Unknown top-level field(s) 'user'"),
    (b"{}", '"users" list'),
    (b'{"users": {"external_id": "a"}}', '"users" must be a list'),
])
def test_body_that_cannot_be_read_is_refused_whole(sync_canvas, post_entries, body, says):
    response = post_entries(sync_canvas.pk, body)

    assert response.status_code == 400
    assert says in response.json()["error"]
    assert not CanvasEntry.objects.exists()


def test_missing_key_is_401_with_bearer_challenge(sync_canvas, post_entries):
    response = post_entries(sync_canvas.pk, {"users": builders.users(1)}, key=None)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["error"]
    assert not CanvasEntry.objects.exists()


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer not-a-key", "Bearer as_short",
                                    "Bearer as_" + "A" * 43])
def test_malformed_or_unknown_key_is_401(sync_canvas, post_entries, header, client):
    response = client.post(f"/api/v1/canvases/{sync_canvas.pk}/entries", data=b'{"users": []}',
                           content_type="application/json", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]


@pytest.mark.parametrize("header", ["Bearer as_bad", "Bearer as_" + "A" * 43])
def test_a_key_that_is_not_a_live_key_is_said_to_be_unknown_or_revoked(sync_canvas, client,
                                                                      header):
    response = client.post(f"/api/v1/canvases/{sync_canvas.pk}/entries", data=b'{"users": []}',
                           content_type="application/json", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    error = response.json()["error"]
    assert "unknown or was revoked" in error
    assert "must" not in error and "start" not in error


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-key",
                                    "Bearer as_one two", "as_" + "A" * 43])
def test_a_malformed_header_says_what_the_header_must_be(sync_canvas, client, header):
    response = client.post(f"/api/v1/canvases/{sync_canvas.pk}/entries", data=b'{"users": []}',
                           content_type="application/json", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["error"] == ("The Authorization header must be 'Bearer ' followed "
                                        "by a workspace API key, which starts with 'as_'.")


def test_revoked_key_is_401(sync_canvas, post_entries, api_key):
    api_key.api_key.revoked_at = timezone.now()
    api_key.api_key.save()

    revoked = post_entries(sync_canvas.pk, {"users": builders.users(1)})
    unknown = post_entries(sync_canvas.pk, {"users": builders.users(1)},
                           key="as_" + "B" * 43)

    assert revoked.status_code == unknown.status_code == 401
    assert "revoked" in revoked.json()["error"]
    assert revoked.json() == unknown.json()
    assert not CanvasEntry.objects.exists()


def test_unknown_canvas_and_another_workspaces_canvas_are_404(sync_canvas, post_entries):
    """A valid key of another workspace learns nothing about this canvas: 404, not 401."""
    stranger = api_key_create(workspace=WorkspaceFactory(), name="other")

    other = post_entries(sync_canvas.pk, {"users": builders.users(1)}, key=stranger.secret)
    unknown = post_entries(sync_canvas.pk + 1000, {"users": builders.users(1)})

    assert (other.status_code, unknown.status_code) == (404, 404)
    assert "No canvas" in other.json()["error"]
    assert not CanvasEntry.objects.exists() and not Profile.objects.exists()


@pytest.mark.parametrize("status", [CanvasStatus.DRAFT, CanvasStatus.STOPPED])
def test_canvas_not_active_is_409(sync_canvas, post_entries, status):
    sync_canvas.status = status
    sync_canvas.save()

    response = post_entries(sync_canvas.pk, {"users": builders.users(2)})

    assert response.status_code == 409
    assert f"is {status.label.lower()}" in response.json()["error"]
    assert not CanvasEntry.objects.exists() and not Profile.objects.exists()


def test_more_than_10000_users_is_413(sync_canvas, post_entries):
    response = post_entries(sync_canvas.pk, {"users": builders.users(10_001)})

    assert response.status_code == 413
    assert "10,000" in response.json()["error"]
    assert not Profile.objects.exists()


def test_absurdly_large_body_is_refused_before_it_is_read(sync_canvas, post_entries):
    response = post_entries(sync_canvas.pk, b'{"users": []}', CONTENT_LENGTH=str(2**31))

    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_get_is_405_json(sync_canvas, client, api_key):
    response = client.get(f"/api/v1/canvases/{sync_canvas.pk}/entries",
                          HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    assert response.status_code == 405
    assert response.json()["error"]


def test_repeated_idempotency_key_replays_the_first_answer_and_enters_nobody_again(
    sync_canvas, post_entries
):
    first = post_entries(sync_canvas.pk, {"users": builders.users(3) + [{"bad": 1}]},
                         idempotency_key="batch-1")
    CanvasEntry.objects.update(exited_at=timezone.now())  # they could enter again now

    again = post_entries(sync_canvas.pk, {"users": builders.users(3)},
                         idempotency_key="batch-1")
    other_key = post_entries(sync_canvas.pk, {"users": builders.users(3)},
                             idempotency_key="batch-2")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["entered"] == 3 and first.json()["rejected"] == 1
    assert again["Idempotent-Replayed"] == "true"
    assert other_key.json()["entered"] == 3
    assert CanvasEntry.objects.count() == 6 and SyncItem.objects.count() == 6


def test_idempotency_keys_are_per_api_key(sync_canvas, post_entries, workspace):
    second_key = api_key_create(workspace=workspace, name="second")
    post_entries(sync_canvas.pk, {"users": builders.users(1)}, idempotency_key="k")

    body = post_entries(sync_canvas.pk, {"users": builders.users(2)}, key=second_key.secret,
                        idempotency_key="k").json()

    assert (body["entered"], body["already_in_canvas"]) == (1, 1)


def test_failed_call_stores_no_answer_so_its_retry_with_the_same_key_enters(
    sync_canvas, post_entries
):
    sync_canvas.status = CanvasStatus.STOPPED
    sync_canvas.save()
    assert post_entries(sync_canvas.pk, {"users": builders.users(2)},
                        idempotency_key="k").status_code == 409
    sync_canvas.status = CanvasStatus.ACTIVE
    sync_canvas.save()

    retry = post_entries(sync_canvas.pk, {"users": builders.users(2)}, idempotency_key="k")

    assert retry.status_code == 200 and retry.json()["entered"] == 2


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_with_the_same_key_enter_once(sync_canvas, api_key):
    answers = []
    barrier = threading.Barrier(2)

    def call():
        barrier.wait()
        try:
            answers.append(canvas_entries_submit(
                api_key=api_key.api_key, canvas_id=sync_canvas.pk,
                body=b'{"users": [{"external_id": "a", "email": "a@example.com"}]}',
                idempotency_key="same",
            ))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.body for a in answers] == [answers[0].body] * 2
    assert answers[0].body["entered"] == 1
    assert sorted(a.replayed for a in answers) == [False, True]
    assert SyncItem.objects.count() == 1


@pytest.mark.postgres
@postgres_only
def test_queries_per_call_do_not_grow_with_the_number_of_users(sync_canvas, post_entries):
    def queries_for(users, key):
        with CaptureQueriesContext(connection) as captured:
            response = post_entries(sync_canvas.pk, {"users": users}, idempotency_key=key)
        assert response.json()["entered"] == len(users)
        return len(captured)

    small = queries_for(builders.users(10), "small")
    large = queries_for(builders.users(10_000, start=10), "large")

    assert small == large
