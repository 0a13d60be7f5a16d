"""The per-user sync trace on the profile page and the sync pages of the admin."""

import re

import pytest
from django.utils import timezone

from audiencesync.sync import engine
from audiencesync.sync.selectors import profile_sync_trace
from audiencesync.sync.services import sync_items_requeue
from audiencesync.workspaces.models import Profile
from canvas.models import SyncBatch
from canvas.services.entry import canvas_enter_users
from tests import builders
from tests.factories import ProfileFactory, UserFactory

from .conftest import MAPPING, tiktok_answer

pytestmark = pytest.mark.django_db


def history(client, external_id) -> str:
    profile = Profile.objects.get(external_id=external_id)
    response = client.get(f"/profiles/{profile.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index('id="sync-history"'):]


def test_trace_says_in_plain_words_why_a_user_was_not_synced(owner_client, tiktok_canvas):
    canvas, step = tiktok_canvas
    canvas_enter_users(canvas=canvas, users=[
        {"external_id": "bad", "email": "not-an-email"},
        {"external_id": "shy", "email": "shy@example.com", "ad_tracking_enabled": False},
    ])

    bad = history(owner_client, "bad")
    assert "Not synced: no usable email — not an email address (expected name@domain.tld); " \
           "no phone" in bad
    assert "Spring retargeting · step 1" in bad and "TikTok · High value" in bad
    assert "not consented to ad tracking" in history(owner_client, "shy")


def test_trace_shows_synced_users_with_the_partner_request_id(owner_client, tiktok_api,
                                                               tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(request_id="rid-777"))
    canvas_enter_users(canvas=canvas, users=builders.users(1))
    engine.sync_flush()

    trace = history(owner_client, "u0")

    assert "<td>Synced</td>" in trace and "rid-777" in trace
    assert "Add users to audience" in trace


def test_trace_follows_a_pending_user_through_retries_reconnect_and_errors(
        tiktok_api, tiktok_canvas, settings):
    settings.SYNC_BACKOFF_BASE = 3600
    canvas, step = tiktok_canvas
    canvas_enter_users(canvas=canvas, users=builders.users(1))
    profile = Profile.objects.get(external_id="u0")
    assert profile_sync_trace(profile=profile)[0].status == "Pending: waiting for the next batch"

    tiktok_api.post(MAPPING, **tiktok_answer(50000, "System error", request_id="rid-1"))
    engine.sync_flush()
    row = profile_sync_trace(profile=profile)[0]
    assert row.status.startswith("Pending: will retry at ")
    assert (row.attempts, row.request_ids) == (1, ["rid-1"])
    assert "System error" in row.last_error

    tiktok_api.replace("POST", MAPPING, **tiktok_answer(40105, "Token revoked", request_id="rid-2"))
    SyncBatch.objects.update(next_attempt_at=timezone.now())
    engine.sync_flush()
    row = profile_sync_trace(profile=profile)[0]
    assert row.status == "Pending: waiting for reconnect"
    assert row.request_ids == ["rid-1", "rid-2"] and "Reconnect TikTok" in row.last_error


def test_trace_of_an_errored_then_requeued_user(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(40002, "Invalid parameters"))
    canvas_enter_users(canvas=canvas, users=builders.users(1))
    engine.sync_flush()
    profile = Profile.objects.get(external_id="u0")
    assert profile_sync_trace(profile=profile)[0].status == (
        "Errored: TikTok refused the request: Invalid parameters (code 40002)")

    sync_items_requeue(step=step)

    assert profile_sync_trace(profile=profile)[0].status.startswith("Pending: will retry")


def test_a_profile_without_syncs_says_so(owner_client, workspace):
    ProfileFactory(workspace=workspace, external_id="quiet")
    assert "No syncs yet" in history(owner_client, "quiet")


def test_another_workspaces_profile_and_its_trace_are_404(owner_client, tiktok_api, workspace):
    stranger = ProfileFactory()
    account = builders.connected_account(stranger.workspace)
    canvas = builders.active_canvas(stranger.workspace)
    builders.sync_step(canvas, account=account, target=builders.audience(account))
    canvas_enter_users(canvas=canvas, users=[{"external_id": stranger.external_id}])
    assert profile_sync_trace(profile=stranger)  # there is a trace, and it is not ours
    assert owner_client.get(f"/profiles/{stranger.pk}/").status_code == 404


# --- the admin -----------------------------------------------------------------------------


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_sync_pages_list_the_log_items_batches_and_counters(operator, tiktok_api,
                                                                  tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(request_id="rid-admin"))
    canvas_enter_users(canvas=canvas, users=builders.users(2) + [
        {"external_id": "bad", "email": "nope"}])
    engine.sync_flush()

    items = operator.get("/admin/canvas/syncitem/", {"q": "bad"}).content.decode()
    assert "Not synced: no usable email" in items and ">u0<" not in items
    assert operator.get("/admin/canvas/syncitem/", {"state__exact": "synced"}).status_code == 200
    log = operator.get("/admin/canvas/syncrequest/").content.decode()
    assert "rid-admin" in log and "accepted" in log
    for page in ("syncbatch", "stepstats", "step", "canvas"):
        response = operator.get(f"/admin/canvas/{page}/")
        assert response.status_code == 200, page
    sent = step.items.filter(state="synced").first()
    detail = operator.get(f"/admin/canvas/syncitem/{sent.pk}/change/")
    assert detail.status_code == 200 and "Synced" in detail.content.decode()
    assert sent.hashes["email"] not in detail.content.decode()
    assert operator.get("/admin/canvas/syncitem/add/").status_code == 403


def test_admin_says_why_a_user_is_pending_in_a_few_queries_for_the_page(
        operator, tiktok_api, tiktok_canvas, settings, django_assert_max_num_queries):
    settings.SYNC_BACKOFF_BASE = 3600
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(50000, "System error", request_id="rid-retry"))
    canvas_enter_users(canvas=canvas, users=builders.users(3))
    engine.sync_flush()  # the three are in one batch, now waiting to retry
    canvas_enter_users(canvas=canvas, users=[{"external_id": "late", "email": "l@example.com"}])

    with django_assert_max_num_queries(20):  # a page of 100 rows would take as many
        items = operator.get("/admin/canvas/syncitem/").content.decode()
    assert items.count("Pending: will retry at ") == 3
    assert items.count("Pending: waiting for the next batch") == 1

    retrying = step.items.filter(profile__external_id="u0").get()
    detail = operator.get(f"/admin/canvas/syncitem/{retrying.pk}/change/").content.decode()
    assert "Pending: will retry at " in detail and "rid-retry" in detail
    assert "System error" in detail


def test_admin_sync_log_names_each_outcome_and_filters_by_any_of_them(operator, tiktok_api,
                                                                      tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(40100, "Too many requests"))
    canvas_enter_users(canvas=canvas, users=builders.users(2))
    engine.sync_flush()

    log = operator.get("/admin/canvas/syncrequest/").content.decode()
    # The outcome leads each row (the first column links to the request).
    assert re.search(r'<th class="field-outcome"><a href="[^"]+">Rate limited</a></th>', log)
    # Every outcome is offered, not only those in the log so far.
    for label in ("Accepted", "Invalid token", "Audience gone", "Batch too large",
                  "Transient error", "Refused"):
        assert f"{label}</a>" in log, label
    filtered = operator.get("/admin/canvas/syncrequest/", {"outcome__exact": "accepted"})
    assert filtered.status_code == 200 and "Rate limited</td>" not in filtered.content.decode()
