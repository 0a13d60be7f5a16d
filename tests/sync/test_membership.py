"""Every person the product put in an audience can be taken out again: removes, erasure and
consent withdrawal send what was added, checked against the sandbox's own record of who is
in the audience (the sandbox mounted in a live server, the real clients and engine)."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.proofs.sandbox import workspace_connect
from audiencesync.sync import engine
from audiencesync.sync.services import profile_erase, sync_history_purge
from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.identifier_services import profiles_identifiers_refresh
from audiencesync.workspaces.models import Profile
from canvas.models import (
    AudienceMembership,
    BatchState,
    ItemPurpose,
    ItemState,
    StepKind,
    SyncAction,
    SyncBatch,
    SyncItem,
)
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from partners.models import Audience
from tests import builders

from .checks import assert_conserved

pytestmark = pytest.mark.django_db(transaction=True)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def account(sandbox, owner):
    connection = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                   partner_key="tiktok")
    return connection.ad_accounts.filter(selected=True).order_by("external_id").first()


def sync_canvas(owner, account, *, name, audience=None, new_audience="", action=SyncAction.ADD,
                match_fields=("email",), respect_ad_tracking=True, launch=True,
                partner_key="tiktok"):
    """A canvas of one TikTok sync step (users leave it at once, so they may enter again)."""
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name=name, user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_update_sync(
        step=step, partner_key=partner_key, ad_account_id=account.pk,
        audience_id=audience.pk if audience else None, action=action,
        match_fields=list(match_fields), respect_ad_tracking=respect_ad_tracking)
    if new_audience:
        audience = canvas_services.audience_create(step=step, name=new_audience,
                                                   match_fields=list(match_fields),
                                                   user=owner.user)
    if launch:
        canvas_services.canvas_launch(canvas=canvas)
    step.refresh_from_db()
    return canvas, step, audience


def flush_all(rounds: int = 10) -> None:
    """Send until nobody is pending; a batch waiting for an earlier intent is due at once."""
    for _ in range(rounds):
        engine.sync_flush()
        if not SyncItem.objects.filter(state=ItemState.PENDING).exists():
            return
        SyncBatch.objects.exclude(state=BatchState.DONE).update(next_attempt_at=timezone.now())
    raise AssertionError("users still pending after every round")


def members(sandbox, audience) -> list[str]:
    return sandbox.members("tiktok", audience.external_id)


# --- item 1: removes send what was added -----------------------------------------------------


def test_launch_refuses_a_remove_step_matching_on_other_fields_than_the_adds(workspace):
    account = builders.connected_account(workspace)
    target = builders.audience(account, match_fields=("email",))
    canvas = canvas_services.canvas_create(workspace=workspace, name="Winback", user=None)
    builders.delay_step(canvas)
    builders.sync_step(canvas, account=account, target=target, action=SyncAction.REMOVE,
                       match_fields=("phone",))

    with pytest.raises(ServiceError) as refused:
        canvas_services.canvas_launch(canvas=canvas)

    assert ("Step 2 (Audience Sync): it removes matching phone, but High value is filled "
            "matching email") in refused.value.message


def test_a_remove_step_matches_on_the_fields_the_audience_was_filled_with(
        owner, account, sandbox):
    _, add, audience = sync_canvas(owner, account, name="Fill", new_audience="Buyers",
                                   match_fields=("email", "phone"))
    remover, remove, _ = sync_canvas(owner, account, name="Empty", audience=audience,
                                     action=SyncAction.REMOVE, match_fields=())
    assert remove.match_fields == ["email", "phone"]

    canvas_enter_users(canvas=add.canvas, users=builders.users(5, phone="+1 415 555 0100"))
    flush_all()
    assert len(members(sandbox, audience)) == 5
    canvas_enter_users(canvas=remover, users=builders.users(5))
    flush_all()

    assert members(sandbox, audience) == []
    assert not AudienceMembership.objects.filter(audience=audience).exists()


def test_the_step_editor_says_what_a_remove_from_an_audience_filled_elsewhere_reaches(
        owner_client, workspace):
    account = builders.connected_account(workspace)
    elsewhere = Audience.objects.create(ad_account=account, external_id="1001",
                                        name="CRM upload")
    canvas = canvas_services.canvas_create(workspace=workspace, name="Winback", user=None)
    step = builders.sync_step(canvas, account=account, target=elsewhere,
                              action=SyncAction.REMOVE, match_fields=("email",))

    page = owner_client.get(reverse("canvas:step", args=[canvas.pk, step.pk]) + "?mode=chosen")

    text = page.content.decode()
    assert "This product does not fill CRM upload" in text
    assert "cannot reach people added elsewhere under other identifiers" in text
    filled = builders.audience(account, external_id="1002", name="Buyers")
    step.audience = filled
    step.save()
    text = owner_client.get(reverse("canvas:step", args=[canvas.pk, step.pk])
                            + "?mode=chosen").content.decode()
    assert "the hashed identifiers they were added to Buyers with (email)" in text


def test_after_an_email_change_a_remove_still_removes_the_person(owner, account, sandbox):
    adder, _, audience = sync_canvas(owner, account, name="Fill", new_audience="Buyers")
    remover, remove, _ = sync_canvas(owner, account, name="Empty", audience=audience,
                                     action=SyncAction.REMOVE)
    canvas_enter_users(canvas=adder, users=[{"external_id": "ann", "email": "ann@old.example"}])
    flush_all()
    assert members(sandbox, audience) == [f"EMAIL_SHA256:{sha256('ann@old.example')}"]

    canvas_enter_users(canvas=remover, users=[{"external_id": "ann",
                                               "email": "ann@new.example"}])
    flush_all()

    assert members(sandbox, audience) == []
    assert_conserved(remove)


def test_erasing_someone_added_two_months_ago_removes_them_at_the_partner(
        owner, account, sandbox, settings):
    settings.SYNC_ITEM_RETENTION_DAYS = 30
    adder, _, audience = sync_canvas(owner, account, name="Fill", new_audience="Buyers")
    with time_machine.travel(timezone.now() - timedelta(days=60)):
        canvas_enter_users(canvas=adder, users=builders.users(2))
        flush_all()
    sync_history_purge()
    assert not SyncItem.objects.exists()  # the add is long forgotten by the sync log
    assert len(members(sandbox, audience)) == 2

    result = profile_erase(profile=Profile.objects.get(external_id="u0"))
    flush_all()

    assert result.audiences == [audience.name]
    assert members(sandbox, audience) == [f"EMAIL_SHA256:{sha256('user1@example.com')}"]
    assert list(AudienceMembership.objects.values_list("profile__external_id", flat=True)) == [
        "u1"]


def test_a_second_add_under_a_new_email_is_removed_under_both(owner, account, sandbox):
    adder, _, audience = sync_canvas(owner, account, name="Fill", new_audience="Buyers")
    remover, _, _ = sync_canvas(owner, account, name="Empty", audience=audience,
                                action=SyncAction.REMOVE)
    canvas_enter_users(canvas=adder, users=[{"external_id": "ann", "email": "ann@old.example"}])
    flush_all()
    canvas_enter_users(canvas=adder, users=[{"external_id": "ann", "email": "ann@new.example"}])
    flush_all()
    assert len(members(sandbox, audience)) == 2

    canvas_enter_users(canvas=remover, users=[{"external_id": "ann"}])
    flush_all()

    assert members(sandbox, audience) == []


def test_a_pinterest_list_is_emptied_by_erasure_after_an_email_change(owner, sandbox):
    connection = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                   partner_key="pinterest")
    account = connection.ad_accounts.filter(selected=True).order_by("external_id").first()
    adder, _, audience = sync_canvas(owner, account, name="Pins", new_audience="Pinners",
                                     partner_key="pinterest")
    canvas_enter_users(canvas=adder, users=builders.users(2))
    flush_all()  # Pinterest creates the list with these first users
    audience.refresh_from_db()
    assert len(sandbox.members("pinterest", audience.external_id)) == 2
    Profile.objects.filter(external_id="u0").update(email="someone.else@example.com")
    profiles_identifiers_refresh(profile_ids=[Profile.objects.get(external_id="u0").pk])

    profile_erase(profile=Profile.objects.get(external_id="u0"))
    flush_all()

    assert sandbox.members("pinterest", audience.external_id) == [sha256("user1@example.com")]


# --- item 2: consent gates adds only ----------------------------------------------------------


def test_a_consent_respecting_remove_step_still_removes_a_user_who_withdrew_consent(
        owner, account, sandbox, settings):
    settings.REMOVE_ON_CONSENT_WITHDRAWN = False  # the remove step alone must do it
    adder, _, audience = sync_canvas(owner, account, name="Fill", new_audience="Buyers")
    remover, remove, _ = sync_canvas(owner, account, name="Empty", audience=audience,
                                     action=SyncAction.REMOVE, respect_ad_tracking=True)
    canvas_enter_users(canvas=adder, users=builders.users(3))
    flush_all()

    canvas_enter_users(canvas=remover, users=builders.users(3, ad_tracking_enabled=False))
    flush_all()

    assert members(sandbox, audience) == []
    assert SyncItem.objects.filter(step=remove, state=ItemState.SYNCED).count() == 3


@pytest.fixture
def two_audiences(owner, account, sandbox):
    """u0..u2 added to two audiences by two canvases, and a third canvas that adds nobody
    without consent."""
    first, _, buyers = sync_canvas(owner, account, name="Buyers", new_audience="Buyers")
    second, _, lookalike = sync_canvas(owner, account, name="Seed", new_audience="Seed",
                                       match_fields=("email", "phone"))
    canvas_enter_users(canvas=first, users=builders.users(3))
    canvas_enter_users(canvas=second, users=builders.users(3, phone="+1 415 555 0100"))
    flush_all()
    assert len(members(sandbox, buyers)) == len(members(sandbox, lookalike)) == 3
    return first, second, buyers, lookalike


def test_withdrawing_consent_through_the_entries_api_removes_from_every_audience(
        owner, owner_client, client, two_audiences, sandbox):
    first, second, buyers, lookalike = two_audiences
    key = api_key_create(workspace=owner.workspace, name="CRM").secret

    response = client.post(f"/api/v1/canvases/{first.pk}/entries",
                           {"users": [{"external_id": "u1", "ad_tracking_enabled": False}]},
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    flush_all()

    gone = f"EMAIL_SHA256:{sha256('user1@example.com')}"
    assert len(members(sandbox, buyers)) == 2 and gone not in members(sandbox, buyers)
    assert len(members(sandbox, lookalike)) == 2
    removes = SyncItem.objects.filter(purpose=ItemPurpose.CONSENT)
    assert sorted(removes.values_list("audience__name", "state")) == [
        (buyers.name, "synced"), (lookalike.name, "synced")]
    for canvas in (first, second):  # no step counts them: its figures still add up
        for step in canvas.steps.all():
            assert_conserved(step)
    page = owner_client.get(reverse("canvas:analytics", args=[second.pk])).content.decode()
    assert "Removed after ad-tracking consent was withdrawn" in page
    assert f'<tr data-audience="{lookalike.name}">' in page
    assert '<td class="num" data-metric="removed">1<' in page


def test_withdrawing_consent_through_the_track_api_removes_from_every_audience(
        client, owner, two_audiences, sandbox):
    first, second, buyers, lookalike = two_audiences
    key = api_key_create(workspace=owner.workspace, name="CRM").secret

    response = client.post("/api/v1/users/track",
                           {"attributes": [{"external_id": "u1", "ad_tracking_enabled": False}]},
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    assert response.json()["attributes_written"] == 1
    flush_all()

    assert len(members(sandbox, buyers)) == len(members(sandbox, lookalike)) == 2
    assert sorted(SyncItem.objects.filter(purpose=ItemPurpose.CONSENT)
                  .values_list("profile__external_id", "audience__name", "state")) == [
        ("u1", buyers.name, "synced"), ("u1", lookalike.name, "synced")]


def test_withdrawing_consent_through_an_import_removes_from_every_audience(
        owner_client, two_audiences, sandbox):
    first, second, buyers, lookalike = two_audiences
    csv = b"external_id,ad_tracking_enabled\nu0,no\nu2,yes\nnew,no\n"

    response = owner_client.post("/profiles/import/",
                                 {"file": SimpleUploadedFile("consent.csv", csv)})

    assert response.status_code == 200
    flush_all()
    assert len(members(sandbox, buyers)) == len(members(sandbox, lookalike)) == 2
    assert sorted(SyncItem.objects.filter(purpose=ItemPurpose.CONSENT)
                  .values_list("profile__external_id", "audience__name")) == [
        ("u0", buyers.name), ("u0", lookalike.name)]
    assert not AudienceMembership.objects.filter(profile__external_id="u0").exists()


def test_consent_withdrawal_removes_nobody_when_switched_off(settings, two_audiences, sandbox):
    settings.REMOVE_ON_CONSENT_WITHDRAWN = False
    first, second, buyers, lookalike = two_audiences
    canvas_enter_users(canvas=first, users=[{"external_id": "u1", "ad_tracking_enabled": False}])
    flush_all()
    assert len(members(sandbox, buyers)) == len(members(sandbox, lookalike)) == 3
