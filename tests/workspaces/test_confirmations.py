"""Removing or demoting a member asks first; promoting does not. The site's own 404 page
offers to switch to the user's workspace that holds the object, and says nothing of
workspaces the user is not a member of."""

import re

import pytest
from django.urls import reverse

from audiencesync.workspaces.models import Membership, Role
from canvas.models import Canvas
from tests.factories import MembershipFactory, ProfileFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def asks(response, sentence: str, *, button: str, posts_to: str, fields: dict) -> None:
    page = response.content.decode()
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "confirm.html"
    assert sentence in page
    assert f'<form method="post" action="{posts_to}">' in page
    for name, value in {**fields, "confirmed": "yes"}.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    assert f">{button}</button>" in page
    assert f'href="{reverse("members")}">Cancel</a>' in page


def test_remove_member_asks_first_and_removes_only_when_confirmed(owner_client, owner):
    member = MembershipFactory(workspace=owner.workspace, role=Role.MEMBER,
                               user__email="bo@brand.example")
    url = reverse("member_action", args=["remove"])
    members_page = owner_client.get(reverse("members")).content.decode()
    assert f'href="{url}?membership_id={member.pk}">Remove</a>' in members_page

    for unconfirmed in (owner_client.get(url, {"membership_id": member.pk}),
                        owner_client.post(url, {"membership_id": member.pk})):
        asks(unconfirmed, f"Remove bo@brand.example from workspace {owner.workspace.name}: "
                          "they lose access to its canvases, profiles and partners at once.",
             button="Remove member", posts_to=url, fields={"membership_id": member.pk})
        assert Membership.objects.filter(pk=member.pk).exists()

    owner_client.post(url, {"membership_id": member.pk, "confirmed": "yes"})

    assert not Membership.objects.filter(pk=member.pk).exists()


def test_demoting_an_admin_asks_first_and_demotes_only_when_confirmed(owner_client, owner):
    admin = MembershipFactory(workspace=owner.workspace, role=Role.ADMIN,
                              user__email="cy@brand.example")
    url = reverse("member_action", args=["role"])
    demote = {"membership_id": admin.pk, "role": "member"}

    for unconfirmed in (owner_client.get(url, demote), owner_client.post(url, demote)):
        asks(unconfirmed, f"cy@brand.example becomes member of workspace "
                          f"{owner.workspace.name}: they can no longer connect partners, or "
                          "manage members and API keys.",
             button="Make member", posts_to=url, fields=demote)
        admin.refresh_from_db()
        assert admin.role == Role.ADMIN

    owner_client.post(url, {**demote, "confirmed": "yes"})

    admin.refresh_from_db()
    assert admin.role == Role.MEMBER


def test_promoting_a_member_acts_at_once(owner_client, owner):
    member = MembershipFactory(workspace=owner.workspace, role=Role.MEMBER)
    owner_client.post(reverse("member_action", args=["role"]),
                      {"membership_id": member.pk, "role": "admin"})
    member.refresh_from_db()
    assert member.role == Role.ADMIN


def test_another_workspaces_member_cannot_be_named_on_a_confirmation(owner_client):
    stranger = MembershipFactory(role=Role.MEMBER)
    response = owner_client.get(reverse("member_action", args=["remove"]),
                                {"membership_id": stranger.pk})
    assert response.status_code == 405
    assert stranger.user.email not in response.content.decode()


# --- the 404 page ---------------------------------------------------------------------------

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def without_csrf_tokens(response) -> str:
    """The page with its CSRF tokens blanked (they are masked anew on every render)."""
    return CSRF.sub('name="csrfmiddlewaretoken" value=""', response.content.decode())


@pytest.fixture
def second_workspace(owner):
    """Another workspace of the owner's user, not the current one."""
    return MembershipFactory(user=owner.user, workspace__name="Second brand").workspace


def test_another_of_my_workspaces_canvas_offers_the_switch_that_lands_on_it(
        owner_client, second_workspace, settings):
    settings.DEBUG = False
    canvas = Canvas.objects.create(workspace=second_workspace, name="Elsewhere")
    url = reverse("canvas:detail", args=[canvas.pk])

    response = owner_client.get(url)

    assert response.status_code == 404
    page = response.content.decode()
    assert "It is in your workspace <strong>Second brand</strong>." in page
    assert f'<form class="inline" method="post" action="{reverse("workspace_switch")}">' in page
    assert f'<input type="hidden" name="workspace_id" value="{second_workspace.pk}">' in page
    assert f'<input type="hidden" name="next" value="{url}">' in page
    assert "Elsewhere" not in page  # nothing of the canvas itself before switching

    switched = owner_client.post(reverse("workspace_switch"),
                                 {"workspace_id": second_workspace.pk, "next": url}, follow=True)

    assert switched.redirect_chain == [(url, 302)]
    assert switched.status_code == 200 and switched.context["canvas"] == canvas


def test_a_strangers_canvas_answers_the_same_404_as_a_missing_id(owner_client, owner,
                                                                 second_workspace, settings):
    settings.DEBUG = False
    # The user's other workspace holds nothing; a stranger's workspace holds this canvas.
    stranger = Canvas.objects.create(workspace=WorkspaceFactory(name="Stranger"), name="Secret")
    missing = stranger.pk + 1000

    foreign = owner_client.get(reverse("canvas:detail", args=[stranger.pk]))
    nonexistent = owner_client.get(reverse("canvas:detail", args=[missing]))

    assert foreign.status_code == nonexistent.status_code == 404
    assert [t.name for t in foreign.templates][0] == "404.html"
    assert without_csrf_tokens(foreign) == without_csrf_tokens(nonexistent)
    page = foreign.content.decode()
    assert "Switch to" not in page and "Stranger" not in page and "Secret" not in page


def test_another_of_my_workspaces_profile_offers_the_switch(owner_client, second_workspace,
                                                           settings):
    settings.DEBUG = False
    profile = ProfileFactory(workspace=second_workspace)
    response = owner_client.get(reverse("profile_detail", args=[profile.pk]))
    assert response.status_code == 404
    assert "Switch to Second brand" in response.content.decode()


def test_the_switcher_ignores_a_next_address_of_another_site(owner_client, second_workspace):
    response = owner_client.post(reverse("workspace_switch"),
                                 {"workspace_id": second_workspace.pk,
                                  "next": "https://evil.example/canvases/1/"})
    assert response["Location"] == reverse("home")


@pytest.mark.parametrize("logged_in", [True, False])
def test_production_404_is_the_products_own_page(request, client, settings, logged_in):
    settings.DEBUG = False
    browser = request.getfixturevalue("owner_client") if logged_in else client
    response = browser.get("/no-such-page/")
    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "base.html"]
    page = response.content.decode()
    assert "<title>Page not found · Audience Sync</title>" in page
    assert "◎ Audience Sync" in page
