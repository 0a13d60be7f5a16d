import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from audiencesync.workspaces.models import Invitation, Membership, Role
from tests import mail_support
from tests.factories import MembershipFactory, ProfileFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_signup_creates_a_workspace_owned_by_the_new_user(client, mailoutbox):
    response = mail_support.sign_up(client, "ana@brand.example")
    assert response.status_code == 302
    user = get_user_model().objects.get(email="ana@brand.example")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.workspace.name == "ana's workspace"
    home = client.post(mail_support.confirmation_link(mailoutbox, "ana@brand.example"),
                       follow=True)
    assert home.status_code == 200
    assert "ana&#x27;s workspace" in home.content.decode()


@pytest.mark.parametrize(
    "name",
    ["home", "members", "workspace_settings", "profile_list", "profile_import", "event_import",
     "partners:list", "canvas:list", "workspace_create"],
)
def test_every_page_requires_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_login_page_is_public(client):
    assert client.get(reverse("account_login")).status_code == 200


def test_owner_invites_existing_user_and_changes_role(owner_client, owner, mailoutbox):
    other = MembershipFactory()  # a login in another workspace
    response = owner_client.post(
        reverse("member_action", args=["invite"]), {"email": other.user.email, "role": "member"}
    )
    assert response.status_code == 302
    invitee = Client()
    invitee.force_login(other.user)
    invitee.post(mail_support.invitation_link(mailoutbox, other.user.email))
    joined = Membership.objects.get(workspace=owner.workspace, user=other.user)
    assert joined.role == Role.MEMBER
    owner_client.post(
        reverse("member_action", args=["role"]), {"membership_id": joined.pk, "role": "admin"}
    )
    joined.refresh_from_db()
    assert joined.role == Role.ADMIN


def test_invite_of_unknown_email_stores_an_invitation_and_sends_mail(owner_client, owner, mailoutbox):
    owner_client.post(
        reverse("member_action", args=["invite"]), {"email": "new@brand.example", "role": "admin"}
    )
    invitation = Invitation.objects.get(workspace=owner.workspace)
    assert (invitation.email, invitation.role) == ("new@brand.example", Role.ADMIN)
    assert mailoutbox[0].to == ["new@brand.example"]


def test_member_cannot_use_members_page_actions(client, login, owner):
    member = MembershipFactory(workspace=owner.workspace, role=Role.MEMBER)
    login(client, member)
    page = client.get(reverse("members"))
    assert page.status_code == 200
    assert "Invite by email" not in page.content.decode()
    for action, data in [
        ("invite", {"email": "x@brand.example", "role": "owner"}),
        ("role", {"membership_id": member.pk, "role": "owner"}),
        ("remove", {"membership_id": owner.pk}),
    ]:
        assert client.post(reverse("member_action", args=[action]), data).status_code == 403
    member.refresh_from_db()
    assert member.role == Role.MEMBER
    assert Membership.objects.filter(pk=owner.pk).exists()
    assert not Invitation.objects.exists()


def test_admin_cannot_grant_owner_and_last_owner_stays(client, login, owner):
    admin = MembershipFactory(workspace=owner.workspace, role=Role.ADMIN)
    login(client, admin)
    client.post(reverse("member_action", args=["role"]), {"membership_id": admin.pk, "role": "owner"})
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    login(client, owner)
    response = client.post(
        reverse("member_action", args=["role"]),
        {"membership_id": owner.pk, "role": "member", "confirmed": "yes"}, follow=True,
    )
    assert "at least one owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_member_of_a_sees_404_for_b_profile(owner_client):
    foreign = ProfileFactory(workspace=WorkspaceFactory())
    response = owner_client.get(reverse("profile_detail", args=[foreign.pk]))
    assert response.status_code == 404


def test_workspace_switcher_only_switches_to_own_workspaces(owner_client, owner):
    second = MembershipFactory(user=owner.user).workspace
    foreign = WorkspaceFactory()
    owner_client.post(reverse("workspace_switch"), {"workspace_id": second.pk})
    assert owner_client.get(reverse("home")).context["current_workspace"] == second
    owner_client.post(reverse("workspace_switch"), {"workspace_id": foreign.pk})
    assert owner_client.get(reverse("home")).context["current_workspace"] != foreign


def test_settings_change_default_country(owner_client, owner):
    owner_client.post(reverse("workspace_settings"), {"name": "Renamed", "default_country": "JP"})
    owner.workspace.refresh_from_db()
    assert (owner.workspace.name, owner.workspace.default_country) == ("Renamed", "JP")


def test_admin_site_is_for_staff_only(owner_client):
    response = owner_client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
