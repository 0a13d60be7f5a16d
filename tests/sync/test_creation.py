"""One audience (Pinterest: one customer list and one audience) at the partner per creation,
whatever fails locally: a creation the partner answered but whose local commit was lost is
found again by its name and adopted, never made a second time. Against the sandbox mounted
in a live server, through the product's own clients."""

import pytest
import requests
from django.db import OperationalError
from django.db.models.signals import post_save
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.proofs.sandbox import workspace_connect
from audiencesync.sync import engine
from canvas.models import StepKind, SyncAction, SyncBatch, SyncRequest
from canvas.selectors import step_metrics
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from partners import ratelimit
from partners.models import Audience, AudienceStatus
from partners.pinterest import Pinterest
from partners.services import partner_audiences_fetch
from tests import builders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def commit_fails_once():
    """The first save of ``model`` matching ``when`` fails as a dropped connection does,
    rolling back the transaction that recorded what the partner had just made."""
    hooks = []

    def arm(model, when):
        failed = []

        def fail(sender, instance, **kwargs):
            if not failed and when(instance):
                failed.append(instance)
                raise OperationalError("server closed the connection unexpectedly")

        post_save.connect(fail, sender=model, weak=False)
        hooks.append((fail, model))
        return failed

    yield arm
    for fail, model in hooks:
        post_save.disconnect(fail, sender=model)


def test_a_tiktok_audience_whose_creation_was_not_recorded_is_adopted_not_made_again(
        sandbox, owner, commit_fails_once):
    connection_row = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                       partner_key="tiktok")
    account = connection_row.ad_accounts.filter(selected=True).order_by("external_id").first()
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Buyers",
                                           user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    step = canvas_services.step_update_sync(
        step=step, partner_key="tiktok", ad_account_id=account.pk, audience_id=None,
        action=SyncAction.ADD, match_fields=["email"], respect_ad_tracking=True)
    failed = commit_fails_once(Audience, lambda audience: bool(audience.external_id))

    with pytest.raises(OperationalError):  # TikTok made it; recording it here failed
        canvas_services.audience_create(step=step, name="Buyers", match_fields=["email"],
                                        user=owner.user)
    assert failed
    with pytest.raises(ServiceError, match="did not finish. Save the step again"):
        canvas_services.canvas_launch(canvas=canvas)
    step.refresh_from_db()  # the marketer saves the step again (a new request)
    audience = canvas_services.audience_create(step=step, name="Buyers",
                                               match_fields=["email"], user=owner.user)

    buyers = [a for a in partner_audiences_fetch(ad_account=account) if a.name.startswith("Buyers")]
    assert [a.id for a in buyers] == [audience.external_id]
    assert audience.status == AudienceStatus.ACTIVE
    canvas_services.canvas_launch(canvas=canvas)
    canvas_enter_users(canvas=canvas, users=builders.users(30))
    engine.sync_flush()
    assert len(sandbox.members("tiktok", audience.external_id)) == 30
    assert step_metrics(steps=[step])[0].synced == 30


def pinterest_audiences(sandbox, connection_row, ad_account_id) -> list[dict]:
    """The targetable audiences at Pinterest, read from the outside (within its rate limit)."""
    partner = Pinterest()
    ratelimit.acquire(partner.rate_key(connection_row.pk),
                      limit_per_s=partner.rate_per_s)
    answer = requests.get(f"{sandbox.url}/v5/ad_accounts/{ad_account_id}/audiences",
                          headers={"Authorization": f"Bearer {connection_row.access_token}"},
                          params={"page_size": 250}, timeout=10)
    answer.raise_for_status()
    return answer.json()["items"]


def test_a_pinterest_list_whose_creation_was_not_recorded_is_adopted_not_made_again(
        sandbox, owner, commit_fails_once):
    connection_row = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                       partner_key="pinterest")
    account = connection_row.ad_accounts.filter(selected=True).order_by("external_id").first()
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Pinners",
                                           user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    step = canvas_services.step_update_sync(
        step=step, partner_key="pinterest", ad_account_id=account.pk, audience_id=None,
        action=SyncAction.ADD, match_fields=["email"], respect_ad_tracking=True)
    audience = canvas_services.audience_create(step=step, name="Pinners",
                                               match_fields=["email"], user=owner.user)
    canvas_services.canvas_launch(canvas=canvas)
    canvas_enter_users(canvas=canvas, users=builders.users(200))
    failed = commit_fails_once(SyncRequest, lambda request: request.outcome == "accepted")

    with pytest.raises(OperationalError):  # Pinterest made list and audience; recording failed
        engine.sync_flush()
    assert failed
    audience.refresh_from_db()
    assert audience.external_id == ""  # nothing of it was kept here
    SyncBatch.objects.update(lease_until=timezone.now())  # the lease of the lost batch ends
    engine.sync_flush()

    audience.refresh_from_db()
    lists = [a for a in sandbox.record()["audiences"]
             if a["partner"] == "pinterest" and a["name"].startswith("Pinners")]
    assert [a["audience_id"] for a in lists] == [audience.external_id]
    [targeting] = pinterest_audiences(sandbox, connection_row, account.external_id)
    assert targeting["rule"]["customer_list_id"] == audience.external_id
    assert audience.status == AudienceStatus.ACTIVE
    assert len(sandbox.members("pinterest", audience.external_id)) == 200
    m = step_metrics(steps=[step])[0]
    assert (m.synced, m.pending) == (200, 0)
