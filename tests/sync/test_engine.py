"""The engine end to end below HTTP: real entry, outbox, batches, TikTok client, counters."""

import importlib
import time
from datetime import timedelta

import pytest
import responses
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.conf import Conf

from audiencesync.sync import engine
from audiencesync.workspaces.models import Role
from canvas.models import (
    AudienceMembership,
    BatchState,
    ItemState,
    SyncBatch,
    SyncItem,
    SyncRequest,
)
from canvas.services.entry import canvas_enter_users
from partners.models import Audience, AudienceStatus, ConnectionStatus
from tests import builders
from tests.factories import MembershipFactory, WorkspaceFactory

from .checks import assert_conserved, metrics
from .conftest import MAPPING, mapping_bodies, tiktok_answer

pytestmark = pytest.mark.django_db


def test_batch_is_sent_hashed_and_counted(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(request_id="rid-42"))
    users = builders.users(20)
    users += [{"external_id": "noid"}, {"external_id": "bad", "email": "not-an-email"},
              {"external_id": "phone-only", "phone": "+1 415 555 0123"},
              {"external_id": "no-consent", "email": "x@example.com",
               "ad_tracking_enabled": False}]
    result = canvas_enter_users(canvas=canvas, users=users)
    assert result.entered == 24

    outcomes = engine.sync_flush()

    assert [o.result for o in outcomes] == ["synced"]
    body = mapping_bodies(tiktok_api)[0]
    assert body["id_schema"] == ["EMAIL_SHA256", "PHONE_SHA256"]
    assert body["action"] == "add" and body["advertiser_ids"] == ["7000000000000000001"]
    assert len(body["batch_data"]) == 21
    phone_row = next(r for r in body["batch_data"] if r[0] == {})
    assert phone_row[1]["id"] == (
        "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4")
    assert "user0@example.com" not in str(body)
    m = metrics(step)
    assert (m.entered, m.synced, m.not_synced, m.pending, m.exited) == (24, 21, 3, 0, 24)
    reasons = dict(SyncItem.objects.filter(state=ItemState.NOT_SYNCED)
                   .values_list("profile__external_id", "reason"))
    assert reasons["noid"] == "email: missing, phone: missing"
    assert reasons["bad"] == "email: invalid_email, phone: missing"
    assert reasons["no-consent"] == "no_ad_tracking_consent"
    assert SyncRequest.objects.get().partner_request_id == "rid-42"
    assert_conserved(step)


def test_rate_limited_answer_retries_without_using_an_attempt(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(40100, "Too many requests"))
    canvas_enter_users(canvas=canvas, users=builders.users(5))
    assert [o.result for o in engine.sync_flush()] == ["retry"]
    batch = SyncBatch.objects.get()
    assert (batch.state, batch.attempts, batch.rate_limited) == (BatchState.RETRYING, 0, 1)
    assert metrics(step).pending == 5
    assert_conserved(step)

    tiktok_api.replace("POST", MAPPING, **tiktok_answer())
    SyncBatch.objects.update(next_attempt_at=timezone.now())
    assert [o.result for o in engine.sync_flush()] == ["synced"]
    assert metrics(step).synced == 5


def test_transient_failures_back_off_then_error_when_the_window_closes(
        tiktok_api, tiktok_canvas, settings):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(50000, "System error"))
    canvas_enter_users(canvas=canvas, users=builders.users(4))
    engine.sync_flush()
    batch = SyncBatch.objects.get()
    assert batch.state == BatchState.RETRYING and batch.attempts == 1
    assert batch.next_attempt_at > timezone.now() + timedelta(seconds=1)
    assert metrics(step).pending == 4

    SyncBatch.objects.update(first_attempt_at=timezone.now() - timedelta(hours=14))
    assert engine.batches_expire() == 4
    m = metrics(step)
    assert (m.pending, m.errored) == (0, 4)
    reason = SyncItem.objects.first().reason
    assert "13 hours" in reason and "System error" in reason
    assert_conserved(step)


def test_invalid_token_pauses_users_until_reconnect(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(40105, "Access token is invalid or revoked"))
    canvas_enter_users(canvas=canvas, users=builders.users(3))
    engine.sync_flush()
    connection_row = step.ad_account.connection
    connection_row.refresh_from_db()
    assert connection_row.status == ConnectionStatus.INVALID
    assert "revoked" in connection_row.last_error
    assert SyncBatch.objects.get().state == BatchState.WAITING_RECONNECT
    canvas_enter_users(canvas=canvas, users=builders.users(2, start=100))
    engine.sync_flush()  # no call while the token is known to be bad
    assert len(mapping_bodies(tiktok_api)) == 1
    assert metrics(step).pending == 5

    connection_row.status = ConnectionStatus.ACTIVE  # what reconnecting does
    connection_row.save()
    tiktok_api.replace("POST", MAPPING, **tiktok_answer())
    engine.sync_flush()
    assert metrics(step).synced == 5
    assert_conserved(step)


def test_a_token_turning_invalid_emails_the_owners_admins_and_its_connector_once(
        tiktok_api, tiktok_canvas, owner, mailoutbox, django_capture_on_commit_callbacks,
        monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)  # the background task runs in this process
    admin = MembershipFactory(workspace=owner.workspace, role=Role.ADMIN)
    connector = MembershipFactory(workspace=owner.workspace, role=Role.MEMBER)
    MembershipFactory(workspace=owner.workspace, role=Role.MEMBER)
    MembershipFactory(role=Role.OWNER)  # another workspace's owner
    canvas, step = tiktok_canvas
    step.ad_account.connection.connected_by = connector.user
    step.ad_account.connection.save()
    tiktok_api.post(MAPPING, **tiktok_answer(40105, "Access token is invalid or revoked"))
    canvas_enter_users(canvas=canvas, users=builders.users(2))

    with django_capture_on_commit_callbacks(execute=True):  # sent once committed
        engine.sync_flush()
        canvas_enter_users(canvas=canvas, users=builders.users(2, start=10))
        engine.sync_flush()  # still invalid: no second alert

    [alert] = mailoutbox
    assert sorted(alert.to) == sorted([owner.user.email, admin.user.email, connector.user.email])
    assert alert.subject == f"TikTok token is invalid: syncs to TikTok are paused ({owner.workspace})"
    assert "revoked" in alert.body and "http://testserver/partners/tiktok/" not in alert.body
    assert f"{settings.SITE_URL}/partners/tiktok/" in alert.body
    assert "tok-abcdef123456" not in alert.body


def test_audience_deleted_at_the_partner_errors_users_at_once(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(40007, "Audience does not exist"))
    canvas_enter_users(canvas=canvas, users=builders.users(3))
    assert [o.result for o in engine.sync_flush()] == ["errored"]
    assert metrics(step).errored == 3
    assert "audience does not exist" in SyncItem.objects.first().reason
    step.audience.refresh_from_db()
    assert step.audience.status == AudienceStatus.DELETED
    assert_conserved(step)


def test_batch_refused_for_size_is_split_and_resent(tiktok_api, tiktok_canvas):
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer(40011, "Too many ids"))
    tiktok_api.post(MAPPING, **tiktok_answer())
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(6))
    engine.sync_flush()
    sizes = [len(b["batch_data"]) for b in mapping_bodies(tiktok_api)]
    assert sizes == [6, 3, 3]
    assert metrics(step).synced == 6


def test_the_sync_log_duration_is_the_partners_time_not_the_wait_for_a_rate_slot(
        tiktok_api, tiktok_canvas, settings):
    settings.TIKTOK_RATE_PER_S = 1  # the second send waits about a second for its slot
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    for start in (0, 10):
        canvas_enter_users(canvas=canvas, users=builders.users(1, start=start))
        started = time.monotonic()
        engine.batch_send(batch=engine.batch_claim(step=step), step=step)
        send_ms = (time.monotonic() - started) * 1000

    waited = SyncRequest.objects.order_by("id").last()
    assert send_ms > 500  # it did wait for the slot ...
    assert waited.duration_ms < send_ms / 2  # ... and the log does not count the wait


def test_a_pinterest_list_made_before_its_audience_failed_is_completed_not_made_again(
        workspace, settings):
    settings.PINTEREST_API_BASE_URL = pin = "https://pinterest.test/v5/"
    account = builders.connected_account(workspace, partner="pinterest", external_id="549")
    target = builders.audience(account, external_id="", name="Pinners")
    Audience.objects.filter(pk=target.pk).update(status=AudienceStatus.AWAITING_FIRST_USERS)
    canvas = builders.active_canvas(workspace)
    step = builders.sync_step(canvas, account=account, target=target, match_fields=["email"])
    lists, audiences = f"{pin}ad_accounts/549/customer_lists", f"{pin}ad_accounts/549/audiences"
    with responses.RequestsMock() as pinterest:
        pinterest.post(lists, json={"id": "101"})
        pinterest.post(audiences, status=503, json={"code": 3, "message": "Unavailable"})
        pinterest.patch(f"{lists}/101", json={"id": "101"})
        pinterest.get(audiences, json={"items": [], "bookmark": None})  # none made before
        pinterest.post(audiences, json={"id": "a-1"})
        canvas_enter_users(canvas=canvas, users=builders.users(2))

        engine.sync_flush()
        target.refresh_from_db()
        assert (target.external_id, target.status) == ("101", AudienceStatus.CREATING)
        assert SyncBatch.objects.get().state == BatchState.RETRYING
        SyncBatch.objects.update(next_attempt_at=timezone.now())
        engine.sync_flush()

        assert [(c.request.method, c.request.url) for c in pinterest.calls] == [
            ("POST", lists), ("POST", audiences), ("PATCH", f"{lists}/101"),
            ("GET", f"{audiences}?page_size=250"), ("POST", audiences)]
    target.refresh_from_db()
    assert (target.external_id, target.status) == ("101", AudienceStatus.ACTIVE)
    assert metrics(step).synced == 2
    assert_conserved(step)


def test_remove_waits_for_a_pending_add_of_the_same_user(tiktok_api, workspace):
    account = builders.connected_account(workspace)
    target = builders.audience(account)
    canvas = builders.active_canvas(workspace)
    add = builders.sync_step(canvas, account=account, target=target, action="add")
    remove = builders.sync_step(canvas, account=account, target=target, action="remove")
    tiktok_api.post(MAPPING, **tiktok_answer(40100, "Too many requests"))
    canvas_enter_users(canvas=canvas, users=builders.users(3))

    results = [o.result for o in engine.sync_flush()]
    assert results == ["retry", "waiting"]  # the add is throttled; the remove must not pass it
    assert [b["action"] for b in mapping_bodies(tiktok_api)] == ["add"]

    tiktok_api.replace("POST", MAPPING, **tiktok_answer())
    for _ in range(3):  # retries are due at once here, as if their backoff had passed
        SyncBatch.objects.update(next_attempt_at=timezone.now())
        engine.sync_flush()
    assert [b["action"] for b in mapping_bodies(tiktok_api)] == ["add", "add", "delete"]
    assert metrics(add).synced == 3 and metrics(remove).synced == 3


@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_queries_per_batch_do_not_grow_with_its_size(tiktok_api, tiktok_canvas, settings):
    settings.REDIS_URL = ""
    settings.TIKTOK_RATE_PER_S = 1_000_000  # no send waits for a paced slot (more queries)
    canvas, step = tiktok_canvas
    tiktok_api.post(MAPPING, **tiktok_answer())
    counts = []
    canvas_enter_users(canvas=canvas, users=builders.users(1, start=50_000))
    engine.sync_next(skip_saturated=False)  # first use creates the rate bucket
    for n, start in ((10, 0), (10_000, 100)):
        canvas_enter_users(canvas=canvas, users=builders.users(n, start=start))
        with CaptureQueriesContext(connection) as queries:
            outcome = engine.sync_next(skip_saturated=False)
        assert outcome.size == n and outcome.result == "synced"
        counts.append(len(queries))
    assert counts[0] == counts[1]
    print(f"queries per batch: {counts[0]}")


def test_membership_records_move_with_accepted_batches_in_the_same_queries_whatever_the_size(
        tiktok_api, workspace, settings):
    """An accepted add writes the batch's membership records and an accepted remove deletes
    them, each in one statement: a batch of 1,000 takes as many queries as one of 10."""
    settings.REDIS_URL = ""
    settings.TIKTOK_RATE_PER_S = 1_000_000  # no send waits for a paced slot (more queries)
    tiktok_api.post(MAPPING, **tiktok_answer())
    account = builders.connected_account(workspace)
    target = builders.audience(account)
    adder = builders.active_canvas(workspace, name="Add")
    builders.sync_step(adder, account=account, target=target)
    remover = builders.active_canvas(workspace, name="Remove")
    builders.sync_step(remover, account=account, target=target, action="remove")
    canvas_enter_users(canvas=adder, users=builders.users(1, start=50_000))
    engine.sync_next(skip_saturated=False)  # first use creates the rate bucket
    counts = {"add": [], "remove": []}
    for n, start in ((10, 0), (1_000, 100)):
        for action, canvas in (("add", adder), ("remove", remover)):
            canvas_enter_users(canvas=canvas, users=builders.users(n, start=start))
            with CaptureQueriesContext(connection) as queries:
                outcome = engine.sync_next(skip_saturated=False)
            assert outcome.size == n and outcome.result == "synced"
            counts[action].append(len(queries))
            recorded = AudienceMembership.objects.filter(
                audience=target, profile__external_id__in=[f"u{i}" for i in
                                                           range(start, start + n)]).count()
            assert recorded == (n if action == "add" else 0)
    assert counts["add"][0] == counts["add"][1]
    assert counts["remove"][0] == counts["remove"][1]
    assert AudienceMembership.objects.filter(audience=target).count() == 1  # u50000 stays


def test_a_big_canvas_does_not_starve_a_small_one(tiktok_api, tiktok_canvas, settings):
    """Steps sharing a rate scope are served in turn, least recently served first."""
    settings.TIKTOK_MAX_BATCH = 10
    tiktok_api.post(MAPPING, **tiktok_answer())
    big_canvas, big = tiktok_canvas
    other = WorkspaceFactory()
    account = builders.connected_account(other)
    small_canvas = builders.active_canvas(other, name="Small")
    small = builders.sync_step(small_canvas, account=account, target=builders.audience(account))
    canvas_enter_users(canvas=big_canvas, users=builders.users(100))
    canvas_enter_users(canvas=small_canvas, users=builders.users(3))

    served = [engine.sync_next(skip_saturated=False).step_id for _ in range(4)]

    assert small.pk in served[:2]
    assert metrics(small).synced == 3 and metrics(big).synced == 30


def test_people_added_before_the_upgrade_get_membership_records(tiktok_api, tiktok_canvas,
                                                                 workspace):
    """The migration that adds the records fills them from the sync history it finds: a
    person added and not removed since is recorded; one removed afterwards is not."""
    migration = importlib.import_module("canvas.migrations.0002_audience_membership")
    canvas, step = tiktok_canvas
    account = step.ad_account
    remover = builders.active_canvas(workspace, name="Remove")
    builders.sync_step(remover, account=account, target=step.audience, action="remove")
    tiktok_api.post(MAPPING, **tiktok_answer())
    canvas_enter_users(canvas=canvas, users=builders.users(3))
    engine.sync_flush()
    canvas_enter_users(canvas=remover, users=builders.users(1, start=1))
    engine.sync_flush()
    AudienceMembership.objects.all().delete()  # as before the upgrade

    migration.records_from_sync_history(django_apps, None)

    assert sorted(AudienceMembership.objects.values_list("profile__external_id", flat=True)) == [
        "u0", "u2"]
    u0 = AudienceMembership.objects.get(profile__external_id="u0")
    assert u0.hashes == SyncItem.objects.get(profile=u0.profile).hashes and u0.step == step
