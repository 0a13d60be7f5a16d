"""Canvas flows against the sandbox mounted in a live server: launch refusals, new and
existing audiences, the audience cap, add-then-remove through a Delay, stop and duplicate."""

import pytest
from django.urls import reverse
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.proofs.sandbox import workspace_connect
from audiencesync.sync import engine
from canvas.models import CanvasEntry, CanvasStatus, DelayUnit, StepKind, SyncAction
from canvas.selectors import step_metrics
from canvas.services import canvases as canvas_services
from canvas.services.audiences import audience_pick_existing
from canvas.services.entry import canvas_enter_users
from partners.models import ConnectionStatus
from partners.services import partner_audiences_fetch
from tests import builders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tiktok(sandbox, owner):
    connection = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                   partner_key="tiktok")
    return connection.ad_accounts.filter(selected=True).order_by("external_id").first()


def sync_step(canvas, account, **changes):
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    options = {"partner_key": "tiktok", "ad_account_id": account.pk if account else None,
               "audience_id": None, "action": SyncAction.ADD, "match_fields": ["email"],
               "respect_ad_tracking": True, **changes}
    return canvas_services.step_update_sync(step=step, **options)


def test_launch_is_refused_with_every_reason(owner_client, owner):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Refused",
                                           user=owner.user)
    canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    step.partner = "tiktok"
    step.save()
    response = owner_client.post(reverse("canvas:action", args=[canvas.pk, "launch"]),
                                 follow=True)
    page = response.content.decode()
    assert "Launch refused" in page
    for reason in ("Step 1 (Audience Sync): choose a partner",
                   "Step 2 (Audience Sync): TikTok is not connected",
                   "Step 2 (Audience Sync): choose an ad account",
                   "Step 2 (Audience Sync): no audience",
                   "Step 2 (Audience Sync): choose at least one match field"):
        assert reason in page
    canvas.refresh_from_db()
    assert canvas.status == CanvasStatus.DRAFT


def test_launch_is_refused_while_the_token_is_invalid(tiktok, owner):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="C", user=owner.user)
    step = sync_step(canvas, tiktok)
    canvas_services.audience_create(step=step, name="Buyers", match_fields=["email"],
                                    user=owner.user)
    tiktok.connection.status = ConnectionStatus.INVALID
    tiktok.connection.save()
    with pytest.raises(ServiceError, match="the TikTok token is invalid"):
        canvas_services.canvas_launch(canvas=canvas)


def test_new_audience_is_created_at_tiktok_and_a_later_step_removes_from_it(
        tiktok, owner, sandbox):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Journey",
                                           user=owner.user)
    add = sync_step(canvas, tiktok, match_fields=["email", "phone"])
    audience = canvas_services.audience_create(step=add, name="High value",
                                               match_fields=["email", "phone"], user=owner.user)
    delay = canvas_services.step_add(canvas=canvas, kind=StepKind.DELAY)
    canvas_services.step_update_delay(step=delay, value=5, unit=DelayUnit.SECONDS)
    remove = sync_step(canvas, tiktok, audience_id=audience.pk, action=SyncAction.REMOVE,
                       match_fields=["email", "phone"])
    canvas_services.canvas_launch(canvas=canvas)

    at_partner = {a["audience_id"]: a for a in sandbox.record()["audiences"]}
    # Named as asked, with the marker unique to this creation.
    assert at_partner[audience.external_id]["name"] == audience.name
    assert audience.name == f"High value ({audience.creation_marker})"

    canvas_enter_users(canvas=canvas, users=builders.users(30))
    engine.sync_flush()
    assert len(sandbox.members("tiktok", audience.external_id)) == 30
    assert CanvasEntry.objects.filter(canvas=canvas, current_step=delay).count() == 30

    CanvasEntry.objects.filter(canvas=canvas).update(resume_at=timezone.now())  # delay over
    engine.sync_flush()
    assert sandbox.members("tiktok", audience.external_id) == []
    add_metrics, remove_metrics = step_metrics(steps=[add, remove])
    assert (add_metrics.synced, add_metrics.proceeded, add_metrics.exited) == (30, 30, 0)
    assert (remove_metrics.synced, remove_metrics.exited) == (30, 30)
    assert not CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True).exists()


def test_existing_audiences_are_listed_from_tiktok_and_non_streaming_ones_refused(tiktok):
    listed = {a.kind: a for a in partner_audiences_fetch(ad_account=tiktok)}
    assert listed["Partner Audience"].syncable
    customer_file = next(a for kind, a in listed.items() if kind != "Partner Audience")
    assert not customer_file.syncable
    with pytest.raises(ServiceError, match="Only TikTok partner"):
        audience_pick_existing(ad_account=tiktok, external_id=customer_file.id)
    picked = audience_pick_existing(ad_account=tiktok,
                                    external_id=listed["Partner Audience"].id)
    assert picked.name == listed["Partner Audience"].name


def test_the_audience_cap_is_refused_in_plain_words(tiktok, owner, settings, sandbox):
    existing = len(partner_audiences_fetch(ad_account=tiktok))
    settings.TIKTOK_MAX_AUDIENCES = existing + 1
    sandbox.control(action="limits", tiktok_max_audiences=existing + 1)
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="C", user=owner.user)
    step = sync_step(canvas, tiktok)
    canvas_services.audience_create(step=step, name="Fits", match_fields=["email"],
                                    user=owner.user)
    with pytest.raises(ServiceError,
                       match=f"TikTok allows at most {existing + 1} audiences per ad account"):
        canvas_services.audience_create(step=step, name="One too many", match_fields=["email"],
                                        user=owner.user)


def test_stop_lets_waiting_users_leave_and_duplicate_makes_a_draft(tiktok, owner):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Stop me",
                                           user=owner.user)
    step = sync_step(canvas, tiktok)
    canvas_services.audience_create(step=step, name="A", match_fields=["email"],
                                    user=owner.user)
    delay = canvas_services.step_add(canvas=canvas, kind=StepKind.DELAY)
    canvas_services.step_update_delay(step=delay, value=1, unit=DelayUnit.DAYS)
    canvas_services.canvas_launch(canvas=canvas)
    with pytest.raises(ServiceError, match="cannot be added, removed or reordered"):
        canvas_services.step_remove(step=delay)
    canvas_enter_users(canvas=canvas, users=builders.users(3))
    canvas_services.canvas_stop(canvas=canvas)
    assert not CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True).exists()
    with pytest.raises(ServiceError, match="only an active canvas takes entries"):
        canvas_enter_users(canvas=canvas, users=builders.users(1, start=50))
    copy = canvas_services.canvas_duplicate(canvas=canvas, user=owner.user)
    assert copy.status == CanvasStatus.DRAFT
    assert [s.kind for s in copy.steps.order_by("position")] == ["audience_sync", "delay"]


def test_an_unused_pinterest_audience_is_deleted_at_the_partner(sandbox, owner):
    connection = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                   partner_key="pinterest")
    account = connection.ad_accounts.filter(selected=True).first()
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="P", user=owner.user)
    step = sync_step(canvas, account, partner_key="pinterest")
    audience = canvas_services.audience_create(step=step, name="Pinners", match_fields=["email"],
                                               user=owner.user)
    canvas_services.canvas_launch(canvas=canvas)
    canvas_enter_users(canvas=canvas, users=builders.users(5))
    engine.sync_flush()  # Pinterest creates the list (and its audience) with the first users
    audience.refresh_from_db()
    assert audience.external_id and len(sandbox.members("pinterest", audience.external_id)) == 5
    with pytest.raises(ServiceError, match="used by a canvas"):
        canvas_services.audience_delete(audience=audience)
    step.delete()
    canvas_services.audience_delete(audience=audience)
    audience.refresh_from_db()
    assert audience.status == "deleted"
