"""Invitations reach only the person who owns the invited address, and email verification
is what proves that ownership."""

import re
import socket
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audiencesync.workspaces.demo import demo_login_ensure
from audiencesync.workspaces.models import Invitation, Membership, Profile, Role
from tests import mail_support
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def _invite(owner_client, email: str, role: str = "member"):
    return owner_client.post(reverse("member_action", args=["invite"]),
                             {"email": email, "role": role}, follow=True)


def _members(workspace):
    return {(m.user.email, m.role) for m in workspace.memberships.select_related("user")}


def test_signing_up_with_an_invited_address_does_not_join_the_workspace(owner_client, owner,
                                                                         mailoutbox):
    _invite(owner_client, "bo@brand.example", "admin")
    squatter = Client()
    mail_support.sign_up(squatter, "bo@brand.example")
    assert _members(owner.workspace) == {(owner.user.email, Role.OWNER)}
    squatter.post(mail_support.confirmation_link(mailoutbox, "bo@brand.example"))
    assert _members(owner.workspace) == {(owner.user.email, Role.OWNER)}
    assert Invitation.objects.get(email="bo@brand.example").accepted_at is None
    home = squatter.get(reverse("home"))
    assert home.context["current_workspace"] == Membership.objects.get(
        user__email="bo@brand.example").workspace
    assert home.context["current_workspace"] != owner.workspace


def test_invitation_link_accepted_by_the_verified_invited_address_joins_with_the_role(
        owner_client, owner, mailoutbox):
    _invite(owner_client, "bo@brand.example", "admin")
    link = mail_support.invitation_link(mailoutbox, "bo@brand.example")
    invitee = Client()
    page = invitee.get(link)  # not logged in yet: the page says how to accept
    assert "log in as bo@brand.example" in page.content.decode()
    mail_support.sign_up_and_verify(invitee, mailoutbox, "bo@brand.example")
    assert "Accept invitation" in invitee.get(link).content.decode()

    home = invitee.post(link, follow=True)

    assert _members(owner.workspace) == {(owner.user.email, Role.OWNER),
                                         ("bo@brand.example", Role.ADMIN)}
    assert home.context["current_workspace"] == owner.workspace
    assert f"You joined {owner.workspace} as admin." in home.content.decode()
    assert invitee.post(link).status_code == 400  # used once


@pytest.mark.parametrize("case", ["another account", "the address, unverified"])
def test_the_link_used_by_another_logged_in_account_is_refused(owner_client, owner, mailoutbox,
                                                                case):
    _invite(owner_client, "bo@brand.example", "admin")
    link = mail_support.invitation_link(mailoutbox, "bo@brand.example")
    if case == "another account":
        intruder = MembershipFactory(user__email="eve@elsewhere.example").user
    else:  # a login holding the address without having proved it (made before verification)
        intruder = UserFactory(email="bo@brand.example", email_verified=False)
    client = Client()
    client.force_login(intruder)

    for answer in (client.get(link), client.post(link)):
        assert answer.status_code == 400
        text = answer.content.decode()
        assert "This invitation is for bo@brand.example" in text
        assert "log in as bo@brand.example" in text

    assert not Membership.objects.filter(workspace=owner.workspace, user=intruder).exists()
    assert Invitation.objects.get(email="bo@brand.example").accepted_at is None


def test_adding_an_existing_account_waits_for_it_to_accept_and_keeps_its_landing_workspace(
        client, login, mailoutbox):
    # "Acme" sorts before the person's own "Zeta": the order a bare list would land in.
    inviter = MembershipFactory(workspace__name="Acme", role=Role.OWNER)
    person = MembershipFactory(workspace__name="Zeta", role=Role.OWNER)
    login(client, inviter)
    answer = _invite(client, person.user.email, "admin")
    assert f"Invitation sent to {person.user.email}" in answer.content.decode()
    assert not Membership.objects.filter(workspace=inviter.workspace, user=person.user).exists()

    browser = Client()
    home = mail_support.log_in(browser, person.user.email)
    assert home.context["current_workspace"] == person.workspace
    assert [m.workspace for m in home.context["my_memberships"]] == [person.workspace]
    upload = SimpleUploadedFile("crm.csv", b"external_id,email\nc1,c1@shop.example\n")
    browser.post(reverse("profile_import"), {"file": upload})
    assert list(Profile.objects.values_list("workspace", flat=True)) == [person.workspace_id]

    browser.post(mail_support.invitation_link(mailoutbox, person.user.email))
    assert Membership.objects.get(workspace=inviter.workspace, user=person.user).role == Role.ADMIN


def test_a_new_session_opens_the_workspace_used_last(login):
    person = MembershipFactory(workspace__name="Zeta")
    acme = MembershipFactory(user=person.user, workspace__name="Acme")
    first = Client()
    mail_support.log_in(first, person.user.email)
    first.post(reverse("workspace_switch"), {"workspace_id": acme.workspace_id})
    first.post(reverse("workspace_switch"), {"workspace_id": person.workspace_id})

    second = Client()
    home = mail_support.log_in(second, person.user.email)
    assert home.context["current_workspace"] == person.workspace


def _normalised(text: str, email: str) -> str:
    text = text.replace(email, "ADDRESS")
    text = re.sub(r"/invitations/[\w-]+/", "/invitations/TOKEN/", text)
    text = re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "CSRF", text)
    text = re.sub(r'name="invitation_id" value="\d+"', "ID", text)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "DATE", text)


def test_the_invite_answer_is_the_same_for_a_registered_and_an_unregistered_address(
        owner_client, owner, mailoutbox):
    registered = UserFactory(email="has-login@brand.example")
    MembershipFactory(user=registered, workspace=WorkspaceFactory())
    answers, mails = [], []
    for email in ["has-login@brand.example", "no-login@brand.example"]:
        response = _invite(owner_client, email)
        page = response.content.decode()
        # The pending list differs by the rows before; compare the answer message itself.
        [message] = re.findall(r'<ul class="messages">.*?</ul>', page, re.S)
        answers.append(_normalised(message, email))
        mail = mail_support.last_mail_to(mailoutbox, email)
        mails.append((mail.subject, _normalised(mail.body, email)))
        assert response.status_code == 200
    assert answers[0] == answers[1]
    assert mails[0] == mails[1]
    assert Invitation.objects.filter(accepted_at__isnull=True).count() == 2
    assert not Membership.objects.filter(workspace=owner.workspace, user=registered).exists()


def test_sign_up_needs_a_verified_email_and_sends_the_verification_mail(client, mailoutbox):
    answer = mail_support.sign_up(client, "ana@brand.example", follow=True)
    assert "Verify Your Email Address" in answer.content.decode()
    assert client.get(reverse("home")).status_code == 302  # not logged in
    assert mail_support.confirmation_link(mailoutbox, "ana@brand.example")

    again = Client()
    refused = mail_support.log_in(again, "ana@brand.example")
    assert "Verify Your Email Address" in refused.content.decode()
    assert again.get(reverse("home")).status_code == 302

    home = client.post(mail_support.confirmation_link(mailoutbox, "ana@brand.example"),
                       follow=True)
    assert home.context["current_workspace"].name == "ana's workspace"


def test_sign_up_with_a_registered_address_answers_as_for_a_new_one(client, mailoutbox):
    UserFactory(email="taken@brand.example")
    taken = mail_support.sign_up(client, "taken@brand.example")
    fresh = mail_support.sign_up(Client(), "fresh@brand.example")
    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"])
    assert get_user_model().objects.filter(email="taken@brand.example").count() == 1


def test_the_demo_login_and_createsuperuser_log_in_without_verification(settings, tmp_path,
                                                                       monkeypatch, mailoutbox):
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # the demo login exists in development mode only
    email, password = demo_login_ensure()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "an-operator-pass-42")
    call_command("createsuperuser", "--noinput", email="ops@brand.example", verbosity=0)

    for login, secret in [(email, password), ("ops@brand.example", "an-operator-pass-42")]:
        client = Client()
        mail_support.log_in(client, login, secret)
        assert client.get("/admin/").status_code == 200, login
        assert EmailAddress.objects.get(email=login).verified
    assert mailoutbox == []


def test_an_expired_or_revoked_invitation_is_refused(owner_client, owner, mailoutbox):
    _invite(owner_client, "bo@brand.example")
    _invite(owner_client, "cy@brand.example")
    invitee = Client()
    invitee.force_login(UserFactory(email="bo@brand.example"))
    Invitation.objects.filter(email="bo@brand.example").update(
        expires_at=timezone.now() - timedelta(minutes=1))
    expired = invitee.post(mail_support.invitation_link(mailoutbox, "bo@brand.example"))
    assert "This invitation expired" in expired.content.decode()

    cy = Invitation.objects.get(email="cy@brand.example")
    owner_client.post(reverse("member_action", args=["revoke-invitation"]),
                      {"invitation_id": cy.pk})
    invitee.force_login(UserFactory(email="cy@brand.example"))
    revoked = invitee.post(mail_support.invitation_link(mailoutbox, "cy@brand.example"))
    assert "not valid" in revoked.content.decode()
    assert _members(owner.workspace) == {(owner.user.email, Role.OWNER)}
    cy.refresh_from_db()
    assert cy.revoked_at is not None


def test_inviting_again_sends_a_new_link_and_the_old_one_dies(owner_client, owner, mailoutbox):
    _invite(owner_client, "bo@brand.example", "member")
    old = mail_support.invitation_link(mailoutbox, "bo@brand.example")
    _invite(owner_client, "bo@brand.example", "admin")
    new = mail_support.invitation_link(mailoutbox, "bo@brand.example")
    invitee = Client()
    invitee.force_login(UserFactory(email="bo@brand.example"))
    assert invitee.post(old).status_code == 400
    invitee.post(new)
    assert ("bo@brand.example", Role.ADMIN) in _members(owner.workspace)


def test_production_without_a_mail_setting_is_warned_by_the_deploy_check(settings):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert "accounts.W001" in {w.id for w in run_checks(include_deployment_checks=True)}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert "accounts.W001" not in {w.id for w in run_checks(include_deployment_checks=True)}


def test_an_invitation_whose_mail_cannot_be_sent_says_so_and_is_not_kept(owner_client, settings):
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    answer = _invite(owner_client, "bo@brand.example")
    assert "The invitation email could not be sent" in answer.content.decode()
    assert not Invitation.objects.exists()


def test_an_address_too_long_to_store_is_refused_with_a_clear_error(owner_client):
    email = f"{'a' * 60}@{'.'.join(['b' * 60] * 4)}.example"
    answer = _invite(owner_client, email)
    assert answer.status_code == 200
    assert "at most 254 characters" in answer.content.decode()
    assert not Invitation.objects.exists()
