"""Size and health read back from the partners: the periodic read takes one partner read per
ad account at a tenth of the scope's rate budget, and the step, the audiences page and
analytics show what it read and when. An audience deleted at the partner, noticed on a
send or by the read, puts a banner on its canvases and emails the canvas's creator once.
Against the sandbox mounted in a live server."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from audiencesync.proofs.sandbox import workspace_connect
from audiencesync.sync import engine
from audiencesync.sync.schedules import SCHEDULES
from audiencesync.workspaces.models import Membership, Role
from canvas.models import StepKind, SyncAction
from canvas.services import canvases as canvas_services
from canvas.services.audience_health import audiences_health_read
from canvas.services.entry import canvas_enter_users
from partners import ratelimit
from partners.models import Audience, AudienceStatus
from tests import builders
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _live_step(sandbox, owner, *, partner_key: str, users: int):
    connection_row = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                       partner_key=partner_key)
    account = connection_row.ad_accounts.filter(selected=True).order_by("external_id").first()
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name=f"{partner_key} buyers",
                                           user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    step = canvas_services.step_update_sync(
        step=step, partner_key=partner_key, ad_account_id=account.pk, audience_id=None,
        action=SyncAction.ADD, match_fields=["email"], respect_ad_tracking=True)
    canvas_services.audience_create(step=step, name=f"{partner_key} buyers",
                                    match_fields=["email"], user=owner.user)
    canvas_services.canvas_launch(canvas=canvas)
    canvas_enter_users(canvas=canvas, users=builders.users(users, start=1_000_000 * len(
        partner_key)))
    engine.sync_flush()
    step.refresh_from_db()
    return canvas, step


def _page(client, name, *args) -> str:
    return client.get(reverse(name, args=args)).content.decode()


def test_size_and_health_are_read_within_a_tenth_of_the_budget_and_shown(
        sandbox, owner, client, login, settings):
    tiktok_canvas, tiktok_step = _live_step(sandbox, owner, partner_key="tiktok", users=1_200)
    pin_canvas, pin_step = _live_step(sandbox, owner, partner_key="pinterest", users=30)
    requests_before = sandbox.record()["requests"]

    result = audiences_health_read()

    assert (result.read, result.gone, result.skipped) == (2, [], [])
    # One TikTok listing, and Pinterest's lists and audiences: three calls for two audiences,
    # each also counted in the tenth of its scope's budget the read may take.
    assert sandbox.record()["requests"] - requests_before == 3
    tiktok_share = f"tiktok:app:share-{0.1:g}"
    pin_share = f"pinterest:connection-{pin_step.ad_account.connection_id}:share-{0.1:g}"
    assert ratelimit.used_per_s(tiktok_share, last_s=60) * 60 == pytest.approx(1)
    assert ratelimit.used_per_s(pin_share, last_s=60) * 60 == pytest.approx(2)
    tiktok_audience, pin_audience = tiktok_step.audience, pin_step.audience
    tiktok_audience.refresh_from_db()
    pin_audience.refresh_from_db()
    assert (tiktok_audience.health, tiktok_audience.size_at_partner) == ("ready", 1_200)
    assert (pin_audience.health, pin_audience.size_at_partner) == ("processing", None)
    assert "30 records uploaded and 0 removed" in pin_audience.health_detail

    with time_machine.travel(timezone.now() + timedelta(seconds=10)):  # Pinterest processed
        audiences_health_read()
    pin_audience.refresh_from_db()
    assert (pin_audience.health, pin_audience.size_at_partner) == ("too_small", None)

    login(client, owner)
    step_page = client.get(reverse("canvas:step", args=[pin_canvas.pk, pin_step.pk]),
                           {"mode": "chosen"}).content.decode()
    assert "Too small to serve ads yet" in step_page
    read_at = f"read {pin_audience.health_read_at:%Y-%m-%d %H:%M} UTC"
    assert read_at in step_page
    assert "Too small to serve ads yet" in _page(client, "canvas:detail", pin_canvas.pk)
    audiences_page = _page(client, "canvas:audiences", tiktok_step.ad_account_id)
    assert "Ready" in audiences_page and "1,200 matched" in audiences_page
    analytics = _page(client, "canvas:analytics", pin_canvas.pk)
    assert "Too small to serve ads yet" in analytics and read_at in analytics


@pytest.fixture
def alerts_run_here(monkeypatch):
    """django-q2 runs the alert tasks in this process, as soon as they are queued (after
    the commit that queues them)."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_an_audience_deleted_at_the_partner_banners_its_canvas_and_emails_the_creator_once(
        sandbox, owner, client, login, mailoutbox, alerts_run_here):
    MembershipFactory(workspace=owner.workspace, role=Role.ADMIN)  # the creator is still here
    canvas, step = _live_step(sandbox, owner, partner_key="tiktok", users=5)
    assert mailoutbox == []
    sandbox.control(action="delete_audience", partner="tiktok",
                    audience_id=step.audience.external_id)

    canvas_enter_users(canvas=canvas, users=builders.users(3, start=500))
    assert [o.result for o in engine.sync_flush()] == ["errored"]  # noticed on a send
    canvas_enter_users(canvas=canvas, users=builders.users(3, start=600))
    engine.sync_flush()
    audiences_health_read()  # and no second alert from the read

    [alert] = mailoutbox
    assert alert.to == [owner.user.email]
    name = step.audience.name  # with its creation marker, as the partner has it
    assert alert.subject == f"TikTok audience {name} was deleted: canvases cannot sync to it"
    assert f"{settings.SITE_URL}/canvases/{canvas.pk}/" in alert.body
    assert Audience.objects.get(pk=step.audience_id).status == AudienceStatus.DELETED
    login(client, owner)
    banner = f"Step 1 syncs to {name}, which was deleted at TikTok"
    assert banner in _page(client, "canvas:list")
    detail = _page(client, "canvas:detail", canvas.pk)
    assert banner in detail and "Deleted at the partner" in detail


def test_the_read_notices_a_deleted_audience_and_tells_the_admins_when_the_creator_left(
        sandbox, owner, mailoutbox, alerts_run_here):
    admin = MembershipFactory(workspace=owner.workspace, role=Role.ADMIN)
    _, step = _live_step(sandbox, owner, partner_key="pinterest", users=5)
    Membership.objects.filter(pk=owner.pk).delete()  # the creator left the workspace
    sandbox.control(action="delete_audience", partner="pinterest",
                    audience_id=step.audience.external_id)

    result = audiences_health_read()
    audiences_health_read()

    assert result.gone == [step.audience_id]
    assert Audience.objects.get(pk=step.audience_id).status == AudienceStatus.DELETED
    [alert] = mailoutbox
    assert alert.to == [admin.user.email]
    assert "pinterest buyers" in alert.subject


def test_the_read_runs_every_half_hour():
    assert ("canvas.tasks.read_audience_health", 30) in SCHEDULES.values()
