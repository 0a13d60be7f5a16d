"""Leaving a canvas: an exception event lets a user out at once (from a Delay too), a stop
lets everyone out in chunks, and an add step that removes on exit takes the people it
added out of the audience again, unless something else still holds them there. Checked
against the sandbox's own record of who is in the audience (the sandbox mounted in a live
server, the real clients and engine)."""

import hashlib

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.track import TrackPayload, track_write
from canvas.models import (
    AudienceMembership,
    CanvasEntry,
    ItemState,
    StepKind,
    SyncAction,
    SyncItem,
)
from canvas.selectors import step_metrics
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from canvas.services.exits import exits_due
from tests import builders

from .checks import assert_conserved
from .test_membership import account, flush_all, sync_canvas  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def email_of(n: int) -> str:
    return f"EMAIL_SHA256:{sha256(f'user{n}@example.com')}"


def journey(owner, account, *, name, audience=None, new_audience="", remove_on_exit=True,  # noqa: F811
            delay_days=7, exit_event="", exit_property="", exit_value=""):
    """A canvas: add to the audience (removing on exit or not) -> Delay; launched."""
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name=name, user=owner.user)
    add = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_update_sync(
        step=add, partner_key="tiktok", ad_account_id=account.pk,
        audience_id=audience.pk if audience else None, action=SyncAction.ADD,
        match_fields=["email"], respect_ad_tracking=True, remove_on_exit=remove_on_exit)
    if new_audience:
        audience = canvas_services.audience_create(step=add, name=new_audience,
                                                   match_fields=["email"], user=owner.user)
    if delay_days:
        delay = canvas_services.step_add(canvas=canvas, kind=StepKind.DELAY)
        canvas_services.step_update_delay(step=delay, value=delay_days, unit="days")
    if exit_event:
        known(owner.workspace, exit_event)
        canvas_services.canvas_exit_criteria_set(canvas=canvas, event_name=exit_event,
                                                 event_property=exit_property,
                                                 event_value=exit_value)
    canvas_services.canvas_launch(canvas=canvas)
    add.refresh_from_db()
    return canvas, add, audience


def known(workspace, *names):
    """The workspace has received these events (launch checks they exist): from a profile
    in no canvas."""
    track(workspace, *[("seed", name, {}) for name in names])


def members(sandbox, audience) -> set[str]:
    return set(sandbox.members("tiktok", audience.external_id))


def track(workspace, *events):
    """Events (external id, name, properties) through the track API's service, now."""
    now = timezone.now().isoformat()
    return track_write(workspace=workspace, payload=TrackPayload(events=[
        {"external_id": who, "name": name, "time": now, "properties": properties}
        for who, name, properties in events]))


def inside(canvas) -> set[str]:
    return set(CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True)
               .values_list("profile__external_id", flat=True))


def counter(step, name: str) -> int:
    return getattr(step_metrics(steps=[step])[0], name)


def test_an_exception_event_takes_a_user_out_of_a_delay_and_out_of_the_audience(
        owner, account, sandbox, client):  # noqa: F811
    canvas, add, audience = journey(owner, account, name="Retarget", new_audience="Carts",
                                    exit_event="purchase", exit_property="plan",
                                    exit_value="gold")
    delay = canvas.steps.get(kind=StepKind.DELAY)
    canvas_enter_users(canvas=canvas, users=builders.users(4))
    flush_all()
    assert members(sandbox, audience) == {email_of(n) for n in range(4)}
    key = api_key_create(workspace=owner.workspace, name="CRM")
    now = timezone.now().isoformat()

    answer = client.post("/api/v1/users/track", content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {key.secret}", data=orjson.dumps({
                             "events": [
                                 {"external_id": "u0", "name": "purchase", "time": now,
                                  "properties": {"plan": "gold"}},
                                 {"external_id": "u1", "name": "purchase", "time": now,
                                  "properties": {"plan": "silver"}},  # not the filter's value
                                 {"external_id": "u2", "name": "app_open", "time": now,
                                  "properties": {"plan": "gold"}},  # not the exception event
                             ]}))

    assert answer.status_code == 200, answer.content
    assert inside(canvas) == {"u1", "u2", "u3"}  # at once: no tick, no wait for the Delay
    flush_all()
    assert members(sandbox, audience) == {email_of(n) for n in (1, 2, 3)}
    assert counter(delay, "exited") == 1
    companion = add.companion
    assert (counter(companion, "entered"), counter(companion, "synced")) == (1, 1)
    assert_conserved(add)
    assert_conserved(companion)
    analytics = owner_client_page(client, owner, canvas)
    assert "Removed on exit from" in analytics


def owner_client_page(client, owner, canvas) -> str:
    client.force_login(owner.user)
    session = client.session
    session["workspace_id"] = owner.workspace_id
    session.save()
    return client.get(reverse("canvas:analytics", args=[canvas.pk])).content.decode()


def test_remove_on_exit_at_the_canvas_end_keeps_both_steps_conserved(owner, account, sandbox):  # noqa: F811
    canvas, add, audience = journey(owner, account, name="Pass through", new_audience="Brief",
                                    delay_days=0)
    users = [*builders.users(3), {"external_id": "no-mail", "email": ""}]
    canvas_enter_users(canvas=canvas, users=users)
    flush_all()

    assert members(sandbox, audience) == set()  # added, then removed as they walked off
    assert not AudienceMembership.objects.filter(audience=audience).exists()
    companion = add.companion
    assert (counter(add, "entered"), counter(add, "synced"), counter(add, "not_synced")) == (
        4, 3, 1)
    # Only the people the add put there are removed: the one without an email never was.
    assert (counter(companion, "entered"), counter(companion, "synced")) == (3, 3)
    assert_conserved(add)
    assert_conserved(companion)
    # The add goes before its remove (latest intent): the partner saw add, then remove.
    assert list(SyncItem.objects.filter(profile__external_id="u0").order_by("id")
                .values_list("action", "state")) == [("add", "synced"), ("remove", "synced")]


def test_a_person_two_canvases_hold_stays_until_the_last_one_lets_go(
        owner, account, sandbox):  # noqa: F811
    first, first_add, audience = journey(owner, account, name="First", new_audience="Shared",
                                         exit_event="leave_first")
    second, second_add, _ = journey(owner, account, name="Second", audience=audience,
                                    exit_event="leave_second")
    canvas_enter_users(canvas=first, users=builders.users(2))
    canvas_enter_users(canvas=second, users=builders.users(1))
    flush_all()
    assert members(sandbox, audience) == {email_of(0), email_of(1)}

    track(owner.workspace, ("u0", "leave_first", {}), ("u1", "leave_first", {}))
    flush_all()
    # u0 is still inside Second, which removes on exit too: it holds them there.
    assert members(sandbox, audience) == {email_of(0)}

    track(owner.workspace, ("u0", "leave_second", {}))
    flush_all()
    assert members(sandbox, audience) == set()
    assert (counter(first_add.companion, "synced"), counter(second_add.companion, "synced")) == (
        1, 1)
    for step in (first_add, first_add.companion, second_add, second_add.companion):
        assert_conserved(step)


def test_an_add_without_remove_on_exit_keeps_the_person_and_an_explicit_remove_still_removes(
        owner, account, sandbox):  # noqa: F811
    leaving, leaving_add, audience = journey(owner, account, name="Leaving",
                                             new_audience="Kept", exit_event="bye")
    keeper, _, _ = journey(owner, account, name="Keeper", audience=audience,
                           remove_on_exit=False, delay_days=0)
    remover, remove, _ = sync_canvas(owner, account, name="Remover", audience=audience,
                                     action=SyncAction.REMOVE)
    canvas_enter_users(canvas=leaving, users=builders.users(2))
    canvas_enter_users(canvas=keeper, users=builders.users(1))
    flush_all()

    track(owner.workspace, ("u0", "bye", {}), ("u1", "bye", {}))
    flush_all()
    assert members(sandbox, audience) == {email_of(0)}  # Keeper's add meant "keep"

    canvas_enter_users(canvas=leaving, users=builders.users(1))  # back in, held again
    canvas_enter_users(canvas=remover, users=builders.users(1))
    flush_all()
    assert members(sandbox, audience) == set()  # whoever holds them
    assert not AudienceMembership.objects.filter(audience=audience).exists()  # holders cleared
    track(owner.workspace, ("u0", "bye", {}))
    flush_all()
    assert members(sandbox, audience) == set()
    assert counter(leaving_add.companion, "entered") == 1  # nothing left to let go the second time
    for step in (leaving_add, leaving_add.companion, remove):
        assert_conserved(step)


def test_a_stop_with_users_inside_lets_them_out_in_chunks_and_counts_their_exits(
        owner, account, sandbox, settings):  # noqa: F811
    settings.CANVAS_EXIT_CHUNK = 7
    settings.CANVAS_STOP_INLINE_SECONDS = 0  # one chunk in the request, the rest in the tick
    canvas, add, audience = journey(owner, account, name="Big", new_audience="Many")
    delay = canvas.steps.get(kind=StepKind.DELAY)
    canvas_enter_users(canvas=canvas, users=builders.users(20))
    flush_all()
    assert len(members(sandbox, audience)) == 20

    canvas_services.canvas_stop(canvas=canvas)

    assert len(inside(canvas)) == 13
    assert [exits_due(), exits_due(), exits_due()] == [7, 6, 0]
    assert inside(canvas) == set()
    flush_all()
    assert members(sandbox, audience) == set()
    assert counter(delay, "exited") == 20
    companion = add.companion
    assert (counter(companion, "entered"), counter(companion, "synced")) == (20, 20)
    chunks = sorted(SyncItem.objects.filter(step=companion).values_list("created_at", flat=True))
    assert [len([c for c in chunks if c == at]) for at in sorted(set(chunks))] == [7, 7, 6]
    assert not SyncItem.objects.filter(state=ItemState.PENDING).exists()
    assert_conserved(add)
    assert_conserved(companion)


def test_an_exception_event_call_takes_the_same_queries_for_ten_or_a_thousand_events(
        owner, account, sandbox):  # noqa: F811
    canvas, _, _ = journey(owner, account, name="Many events", new_audience="Lots",
                           exit_event="purchase", exit_property="sku", exit_value="A1")
    canvas_enter_users(canvas=canvas, users=builders.users(1000))

    def queries(people: range) -> int:
        with CaptureQueriesContext(connection) as captured:
            track(owner.workspace, *[(f"u{n}", "purchase", {"sku": "A1"}) for n in people])
        return len(captured)

    assert queries(range(10)) == queries(range(10, 1000))
    assert len(inside(canvas)) == 0


def test_entering_leaving_and_entering_again_before_anything_is_sent_ends_in_the_audience(
        owner, account, sandbox):  # noqa: F811
    # The add step's batch then holds both adds and the companion's the remove between
    # them: each holds an intent the other must wait for, and neither waits forever.
    canvas, add, audience = journey(owner, account, name="Again", new_audience="Again",
                                    exit_event="bye")
    canvas_enter_users(canvas=canvas, users=builders.users(2))
    track(owner.workspace, ("u0", "bye", {}))
    canvas_enter_users(canvas=canvas, users=builders.users(1))

    flush_all()

    assert members(sandbox, audience) == {email_of(0), email_of(1)}
    assert list(SyncItem.objects.filter(profile__external_id="u0").order_by("id")
                .values_list("action", "state")) == [
        ("add", "synced"), ("remove", "synced"), ("add", "synced")]
    assert_conserved(add)
    assert_conserved(add.companion)
