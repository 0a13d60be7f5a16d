"""Actions that cannot be taken back ask first: a GET, or a POST without the confirmation
(an old page's form), shows what will happen and does nothing; only the confirming POST acts."""

import re

import pytest
from django.urls import reverse
from django_q.conf import Conf

from audiencesync.workspaces.apikeys import api_key_create
from canvas.models import Canvas, CanvasEntry, CanvasStatus, Step
from canvas.selectors import step_metrics
from canvas.services.entry import canvas_enter_users
from partners.models import AudienceStatus
from tests import builders
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def asks(response, *sentences, button: str, posts_to: str) -> None:
    """The response is the confirmation page: its sentences, a Cancel link, a confirm button."""
    page = response.content.decode()
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "confirm.html"
    for sentence in sentences:
        assert sentence in page, sentence
    assert re.search(rf'<form method="post" action="{re.escape(posts_to)}">', page)
    assert '<input type="hidden" name="confirmed" value="yes">' in page
    assert f">{button}</button>" in page
    assert ">Cancel</a>" in page


def inside(canvas) -> int:
    return CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True).count()


def test_stop_says_who_exits_and_what_still_syncs_and_stops_only_when_confirmed(
        owner_client, sync_canvas):
    canvas_enter_users(canvas=sync_canvas, users=builders.users(3, ad_tracking_enabled=True))
    sync = sync_canvas.steps.get(kind="audience_sync")
    assert (inside(sync_canvas), step_metrics(steps=[sync])[0].pending) == (3, 3)
    url = reverse("canvas:action", args=[sync_canvas.pk, "stop"])
    detail = reverse("canvas:detail", args=[sync_canvas.pk])

    for unconfirmed in (owner_client.get(url), owner_client.post(url)):
        asks(unconfirmed, "Stop canvas Spring retargeting: no user enters it any more.",
             "3 users waiting in Delays exit the canvas now",
             "3 pending syncs finish", button="Stop canvas", posts_to=url)
        assert f'href="{detail}">Cancel</a>' in unconfirmed.content.decode()
        sync_canvas.refresh_from_db()
        assert sync_canvas.status == CanvasStatus.ACTIVE and inside(sync_canvas) == 3

    response = owner_client.post(url, {"confirmed": "yes"})

    assert response.status_code == 302 and response["Location"] == detail
    sync_canvas.refresh_from_db()
    assert sync_canvas.status == CanvasStatus.STOPPED and inside(sync_canvas) == 0


def test_the_canvas_page_links_to_the_confirmations_instead_of_posting(owner_client, sync_canvas):
    page = owner_client.get(reverse("canvas:detail", args=[sync_canvas.pk])).content.decode()
    for action, label in (("stop", "Stop"), ("enter-all", "Enter all profiles")):
        url = reverse("canvas:action", args=[sync_canvas.pk, action])
        assert re.search(rf'<a class="btn [a-z ]+" href="{url}">{label}</a>', page)
        assert f'action="{url}"' not in page


def test_enter_all_says_how_many_profiles_and_enters_them_only_when_confirmed(
        owner_client, sync_canvas, workspace, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "SYNC", True)  # the background task runs in this process
    for _ in range(4):
        ProfileFactory(workspace=workspace)
    ProfileFactory()  # another workspace's profile is not counted
    url = reverse("canvas:action", args=[sync_canvas.pk, "enter-all"])

    for unconfirmed in (owner_client.get(url), owner_client.post(url)):
        asks(unconfirmed, f"Enter all 4 profiles of workspace {workspace.name} into canvas "
                          "Spring retargeting", button="Enter all profiles", posts_to=url)
        assert inside(sync_canvas) == 0

    with django_capture_on_commit_callbacks(execute=True):  # enqueued once the request commits
        owner_client.post(url, {"confirmed": "yes"})

    assert inside(sync_canvas) == 4


def test_stop_of_a_stopped_canvas_asks_nothing(owner_client, sync_canvas):
    Canvas.objects.filter(pk=sync_canvas.pk).update(status=CanvasStatus.STOPPED)
    response = owner_client.get(reverse("canvas:action", args=[sync_canvas.pk, "stop"]),
                                follow=True)
    assert "Only an active canvas can be stopped." in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("canvas:detail", args=[sync_canvas.pk])


def test_remove_step_names_the_step_and_removes_it_only_when_confirmed(owner_client, workspace):
    canvas = Canvas.objects.create(workspace=workspace, name="Draft")
    account = builders.connected_account(workspace)
    builders.sync_step(canvas, account=account, target=builders.audience(account))
    delay = builders.delay_step(canvas, seconds=30)
    url = reverse("canvas:step_action", args=[canvas.pk, delay.pk, "remove"])
    page = owner_client.get(reverse("canvas:detail", args=[canvas.pk])).content.decode()
    assert f'href="{url}">Remove</a>' in page

    for unconfirmed in (owner_client.get(url), owner_client.post(url)):
        asks(unconfirmed, "Remove step 2 (Delay · wait 30 seconds) from canvas Draft: its "
                          "settings are lost.", button="Remove step", posts_to=url)
        assert Step.objects.filter(pk=delay.pk).exists()

    owner_client.post(url, {"confirmed": "yes"})

    assert not Step.objects.filter(pk=delay.pk).exists()
    assert canvas.steps.count() == 1


def test_moving_a_step_still_acts_at_once(owner_client, workspace):
    canvas = Canvas.objects.create(workspace=workspace, name="Draft")
    first, second = builders.delay_step(canvas, seconds=1), builders.delay_step(canvas, seconds=2)
    owner_client.post(reverse("canvas:step_action", args=[canvas.pk, second.pk, "up"]))
    assert list(canvas.steps.order_by("position")) == [second, first]


def test_delete_audience_warns_it_cannot_be_undone_and_deletes_only_when_confirmed(
        owner_client, workspace):
    account = builders.connected_account(workspace)
    # Not yet created at TikTok (no id): deleting it calls nobody.
    audience = builders.audience(account, external_id="", name="Lapsed buyers")
    listing = reverse("canvas:audiences", args=[account.pk])
    url = reverse("canvas:audience_delete", args=[account.pk, audience.pk])
    assert f'href="{url}">Delete at TikTok</a>' in owner_client.get(listing).content.decode()

    for unconfirmed in (owner_client.get(url), owner_client.post(url),
                        owner_client.post(listing, {"audience": audience.pk})):  # an old page
        asks(unconfirmed, "Delete audience Lapsed buyers at TikTok: it is deleted at the "
                          "partner and cannot be undone.", button="Delete at TikTok",
             posts_to=url)
        audience.refresh_from_db()
        assert audience.status != AudienceStatus.DELETED

    response = owner_client.post(url, {"confirmed": "yes"})

    assert response["Location"] == listing
    audience.refresh_from_db()
    assert audience.status == AudienceStatus.DELETED


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_revoke_shows_an_intermediate_page_and_revokes_only_after_it(staff_client,
                                                                          workspace):
    key = api_key_create(workspace=workspace, name="CRM").api_key
    changelist = reverse("admin:workspaces_apikey_changelist")
    form = {"action": "revoke", "_selected_action": [key.pk]}

    page = staff_client.post(changelist, form)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Revoke these API keys?" in html and "stops working at once" in html
    assert str(key) in html and '<input type="hidden" name="post" value="yes">' in html
    assert '<input type="submit" value="Yes, revoke them">' in html
    key.refresh_from_db()
    assert key.revoked_at is None

    response = staff_client.post(changelist, {**form, "post": "yes"}, follow=True)

    assert "1 API key(s) revoked." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
