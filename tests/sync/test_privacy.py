"""Erasure of a profile (service, page, admin) and the retention purge."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audiencesync.sync import engine, tasks
from audiencesync.sync.services import profile_erase, sync_history_purge
from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.models import Profile, Role
from canvas.models import (
    CanvasEntry,
    IdempotentResponse,
    ItemPurpose,
    ItemState,
    StepStats,
    SyncBatch,
    SyncItem,
    SyncRequest,
)
from canvas.services.entries_bulk import canvas_enter_all_profiles
from canvas.services.entry import canvas_enter_users
from tests import builders
from tests.factories import MembershipFactory, ProfileFactory, UserFactory

from .checks import assert_conserved, metrics
from .conftest import MAPPING, mapping_bodies, tiktok_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced_canvas(tiktok_api, workspace):
    """An active canvas: TikTok add step, then a one-hour Delay; u0..u2 entered and synced."""
    account = builders.connected_account(workspace)
    canvas = builders.active_canvas(workspace)
    step = builders.sync_step(canvas, account=account, target=builders.audience(account))
    builders.delay_step(canvas, seconds=3600)
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(3, phone="+1 415 555 0100"))
    engine.sync_flush()
    return canvas, step


def profile(external_id):
    return Profile.objects.get(external_id=external_id)


def test_erase_queues_a_remove_that_the_next_flush_sends_as_delete(tiktok_api, synced_canvas):
    canvas, step = synced_canvas
    before = metrics(step)
    person = profile("u1")
    sent_add = SyncItem.objects.get(profile=person)

    result = profile_erase(profile=person)

    assert result.removes_queued == 1 and result.audiences == ["High value"]
    erasure = SyncItem.objects.get(purpose=ItemPurpose.ERASURE)
    assert (erasure.step_id, erasure.audience_id, erasure.action, erasure.state) == (
        step.pk, step.audience_id, "remove", ItemState.PENDING)
    assert erasure.hashes == sent_add.hashes and erasure.profile_id == person.pk

    engine.sync_flush()

    bodies = mapping_bodies(tiktok_api)
    assert [b["action"] for b in bodies] == ["add", "delete"]
    assert bodies[1]["batch_data"] == [[{"id": sent_add.hashes["email"], "audience_ids": ["9001"]},
                                        {"id": sent_add.hashes["phone"],
                                         "audience_ids": ["9001"]}]]
    erasure.refresh_from_db()
    assert erasure.state == ItemState.SYNCED
    after = metrics(step)  # an erasure is no journey event: the step's figures do not move
    assert (after.entered, after.synced, after.pending) == (before.entered, before.synced, 0)
    assert_conserved(step)


def test_erase_blanks_the_profile_and_takes_it_out_of_its_canvases(synced_canvas):
    canvas, step = synced_canvas
    person = profile("u1")
    Profile.objects.filter(pk=person.pk).update(attributes={"tier": "gold"}, idfa="x", gaid="y")

    result = profile_erase(profile=person)

    person.refresh_from_db()
    assert person.external_id == f"erased-{person.pk}"
    assert (person.email, person.phone, person.idfa, person.gaid, person.attributes) == (
        "", "", "", "", {})
    assert result.canvases_left == 1
    assert not CanvasEntry.objects.filter(profile=person, exited_at__isnull=True).exists()
    journey = SyncItem.objects.get(profile=person, purpose=ItemPurpose.JOURNEY)
    assert journey.hashes == {}  # its hashes now live only in the pending remove
    assert CanvasEntry.objects.filter(exited_at__isnull=True).count() == 2  # others stay


def test_erase_of_a_user_whose_add_is_pending_removes_after_the_add(tiktok_api, synced_canvas,
                                                                      workspace):
    account = builders.connected_account(workspace)
    canvas = builders.active_canvas(workspace, name="Second")
    builders.sync_step(canvas, account=account, target=builders.audience(
        account, external_id="9002", name="Lookalike seed"))
    canvas_enter_users(canvas=canvas, users=[{"external_id": "u1"}])  # add still pending

    result = profile_erase(profile=profile("u1"))

    assert result.audiences == ["High value", "Lookalike seed"]
    engine.sync_flush()
    calls = [(b["action"], b["batch_data"][0][0]["audience_ids"]) for b in
             mapping_bodies(tiktok_api)]
    assert [action for action, audiences in calls if audiences == ["9001"]] == ["add", "delete"]
    assert [action for action, audiences in calls if audiences == ["9002"]] == ["add", "delete"]
    assert not SyncItem.objects.filter(state=ItemState.PENDING).exists()


def test_erasing_again_queues_nothing_new(synced_canvas):
    person = profile("u1")
    profile_erase(profile=person)
    assert profile_erase(profile=person).removes_queued == 0
    assert SyncItem.objects.filter(purpose=ItemPurpose.ERASURE).count() == 1


def test_a_profile_never_synced_is_erased_without_any_remove(workspace):
    person = ProfileFactory(workspace=workspace)
    assert profile_erase(profile=person).removes_queued == 0
    person.refresh_from_db()
    assert person.email == ""


def test_an_erased_profile_enters_no_canvas_and_leaves_the_profile_pages(
        owner_client, synced_canvas, workspace):
    canvas, step = synced_canvas
    person = profile("u1")
    profile_erase(profile=person)

    later = builders.active_canvas(workspace, name="Later")
    builders.delay_step(later, seconds=60)
    canvas_enter_all_profiles(canvas_id=later.pk)

    assert set(CanvasEntry.objects.filter(canvas=later).values_list(
        "profile__external_id", flat=True)) == {"u0", "u2"}
    page = owner_client.get("/profiles/").content.decode()
    assert "erased-" not in page and ">u0<" in page


def test_retention_purge_deletes_an_erased_profile_once_its_removes_are_gone(
        tiktok_api, synced_canvas, settings):
    settings.SYNC_ITEM_RETENTION_DAYS = 30
    person = profile("u1")
    profile_erase(profile=person)
    engine.sync_flush()  # the remove is sent
    long_ago = timezone.now() - timedelta(days=31)
    Profile.objects.filter(pk=person.pk).update(erased_at=long_ago)

    # Its items (the add, the remove) are recent: the row stays while they point at it.
    assert sync_history_purge().erased_profiles == 0
    SyncItem.objects.filter(profile=person).update(resolved_at=long_ago)

    purged = sync_history_purge()

    assert purged.erased_profiles == 1
    assert not Profile.objects.filter(pk=person.pk).exists()
    assert Profile.objects.filter(external_id__in=["u0", "u2"]).count() == 2


# --- the page ------------------------------------------------------------------------------


def test_delete_profile_asks_first_then_erases(owner_client, synced_canvas):
    person = profile("u2")
    detail = owner_client.get(f"/profiles/{person.pk}/")
    assert f"/profiles/{person.pk}/erase/".encode() in detail.content

    confirm = owner_client.get(f"/profiles/{person.pk}/erase/")

    assert confirm.status_code == 200
    assert b"High value" in confirm.content
    assert profile("u2").email == "user2@example.com"
    direct = owner_client.post(f"/profiles/{person.pk}/erase/")  # the form of an old page
    assert direct.status_code == 200 and b"cannot be undone" in direct.content
    assert profile("u2").email == "user2@example.com"

    response = owner_client.post(f"/profiles/{person.pk}/erase/", {"confirmed": "yes"},
                                 follow=True)

    assert response.redirect_chain[-1][0] == f"/profiles/{person.pk}/"
    assert b"1 removal(s) from partner audiences are queued" in response.content
    assert Profile.objects.get(pk=person.pk).external_id == f"erased-{person.pk}"


def test_only_managers_may_delete_a_profile(client, login, synced_canvas, workspace):
    member = MembershipFactory(workspace=workspace, role=Role.MEMBER)
    login(client, member)
    person = profile("u0")
    assert b"Delete profile" not in client.get(f"/profiles/{person.pk}/").content
    assert client.post(f"/profiles/{person.pk}/erase/").status_code == 403
    assert profile("u0").email == "user0@example.com"


def test_another_workspaces_profile_cannot_be_deleted(owner_client, db):
    stranger = ProfileFactory()
    assert owner_client.post(f"/profiles/{stranger.pk}/erase/").status_code == 404
    stranger.refresh_from_db()
    assert stranger.email


def test_admin_erase_action_confirms_then_erases(client, synced_canvas):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    person = profile("u0")
    url = "/admin/workspaces/profile/"
    form = {"action": "erase", "_selected_action": [person.pk]}

    confirm = client.post(url, form)

    assert confirm.status_code == 200 and b"Yes, erase them" in confirm.content
    assert profile("u0").email

    response = client.post(url, {**form, "post": "yes"}, follow=True)

    assert b"1 profile(s) erased; 1 removal(s)" in response.content
    assert Profile.objects.get(pk=person.pk).external_id == f"erased-{person.pk}"


# --- retention -----------------------------------------------------------------------------


def test_retention_purge_forgets_old_resolved_history_but_not_counters(
        tiktok_api, synced_canvas, settings):
    settings.SYNC_ITEM_RETENTION_DAYS = 30
    canvas, step = synced_canvas
    long_ago = timezone.now() - timedelta(days=31)
    SyncItem.objects.update(resolved_at=long_ago, created_at=long_ago)
    SyncBatch.objects.update(done_at=long_ago)
    SyncRequest.objects.update(created_at=long_ago)
    canvas_enter_users(canvas=canvas, users=builders.users(2, start=10))  # recent, pending
    key = api_key_create(workspace=canvas.workspace, name="crm").api_key
    old_answer = IdempotentResponse.objects.create(api_key=key, key="old", status=200, body={})
    IdempotentResponse.objects.filter(pk=old_answer.pk).update(created_at=long_ago)
    IdempotentResponse.objects.create(api_key=key, key="recent", status=200, body={})
    counters = list(StepStats.objects.values_list("entered", "synced"))

    result = tasks.purge_history()

    assert result == {"requests": 1, "items": 3, "batches": 1, "idempotent_responses": 1,
                      "erased_profiles": 0, "events": 0}
    assert list(IdempotentResponse.objects.values_list("key", flat=True)) == ["recent"]
    assert SyncItem.objects.filter(state=ItemState.PENDING).count() == 2
    assert not SyncBatch.objects.exists() and not SyncRequest.objects.exists()
    assert list(StepStats.objects.values_list("entered", "synced")) == counters
    assert metrics(step).synced == 3


def test_retention_purge_keeps_pending_users_and_unfinished_batches_however_old(
        tiktok_api, synced_canvas, settings):
    settings.SYNC_ITEM_RETENTION_DAYS = 30
    settings.SYNC_BACKOFF_BASE = 3600
    canvas, step = synced_canvas
    tiktok_api.replace("POST", MAPPING, **tiktok_answer(50000, "System error"))
    canvas_enter_users(canvas=canvas, users=builders.users(2, start=10))
    engine.sync_flush()
    long_ago = timezone.now() - timedelta(days=90)
    SyncItem.objects.update(created_at=long_ago)
    SyncBatch.objects.update(created_at=long_ago, done_at=None)

    purged = sync_history_purge(chunk_size=1)

    assert (purged.items, purged.batches) == (0, 0)
    assert SyncItem.objects.count() == 5 and SyncBatch.objects.count() == 2
