"""TikTok's app tier: a spent day budget pauses the scope. Its users wait (pending, not
errored) until the budget refills at 00:00 UTC, and sync_status and the partner page say
so. Against the sandbox mounted in a live server, through the product's own client; the
limiter's clock is shifted to just before midnight instead of waiting for it."""

import time
from datetime import timedelta

import pytest
import redis
import time_machine
from django.urls import reverse
from django.utils import timezone

from audiencesync.proofs.sandbox import workspace_connect
from audiencesync.sync import engine
from audiencesync.sync.selectors import sync_status_report
from canvas.models import BatchState, StepKind, SyncAction, SyncBatch
from canvas.selectors import step_metrics
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from partners import ratelimit
from partners.tiktok import TikTok
from tests import builders

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 86_400.0


@pytest.fixture(autouse=True)
def limiter_forgets_the_shifted_clock(settings):
    """The test moves the limiter's clock to 23:50 UTC. What it counted there would read as
    calls made hours ahead once the clock is back, pausing the next test's TikTok calls:
    Redis outlives a test (the database backend's rows are rolled back with it)."""
    yield
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("ratelimit:tiktok:*"):
            client.delete(key)


def test_a_spent_day_budget_pauses_tiktok_until_midnight_utc(sandbox, owner, settings, client,
                                                              login):
    now = time.time()
    settings.RATE_LIMIT_CLOCK_SHIFT_S = (now // DAY + 1) * DAY - 600 - now  # 23:50 UTC
    settings.TIKTOK_MAX_BATCH = 10
    connection_row = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                       partner_key="tiktok")
    account = connection_row.ad_accounts.filter(selected=True).order_by("external_id").first()
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Buyers",
                                           user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    step = canvas_services.step_update_sync(
        step=step, partner_key="tiktok", ad_account_id=account.pk, audience_id=None,
        action=SyncAction.ADD, match_fields=["email"], respect_ad_tracking=True)
    audience = canvas_services.audience_create(step=step, name="Buyers", match_fields=["email"],
                                               user=owner.user)
    canvas_services.canvas_launch(canvas=canvas)
    # A made-up tier whose day budget leaves two more calls today.
    key = TikTok().rate_key(connection_row.pk)
    spent = ratelimit.scope_state(key, per_day=1).windows[0].used
    settings.TIKTOK_RATE_PER_DAY = spent + 2
    canvas_enter_users(canvas=canvas, users=builders.users(30))

    results = [o.result for o in engine.sync_flush()]

    assert results == ["synced", "synced", "waiting"]
    assert len(sandbox.members("tiktok", audience.external_id)) == 20
    paused = SyncBatch.objects.get(state=BatchState.RETRYING)
    assert paused.attempts == 0  # waiting for the budget uses up no attempt
    assert 540 < (paused.next_attempt_at - timezone.now()).total_seconds() <= 600
    assert "budget of tiktok:app is spent until" in paused.last_error
    metrics = step_metrics(steps=[step])[0]
    assert (metrics.synced, metrics.pending, metrics.errored) == (20, 10, 0)

    rate = next(r for r in sync_status_report()["rate"] if r["scope"] == "tiktok:app")
    assert (rate["limit_per_s"], rate["limit_per_min"]) == (10.0, 600)
    assert rate["used_today"] == rate["limit_per_day"] == spent + 2
    assert rate["paused_until"] is not None
    page = login(client, owner).get(reverse("partners:detail", args=["tiktok"]))
    assert "Sending to TikTok is paused until" in page.content.decode()
    assert "daily request budget" in page.content.decode()

    # Twelve hours on, the users still wait: only the 13-hour retry window errors them.
    assert engine.batches_expire(now=timezone.now() + timedelta(hours=12)) == 0

    # 00:00 UTC: the budget refills and the paused users are sent.
    settings.RATE_LIMIT_CLOCK_SHIFT_S += 601
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        assert [o.result for o in engine.sync_flush()] == ["synced"]
    assert len(sandbox.members("tiktok", audience.external_id)) == 30
    assert "paused" not in login(client, owner).get(
        reverse("partners:detail", args=["tiktok"])).content.decode()
