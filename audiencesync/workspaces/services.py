"""Writes for workspaces, members and invitations."""

import logging

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audiencesync.errors import ServiceError

from .models import MANAGING_ROLES, Invitation, Membership, Role, Workspace

logger = logging.getLogger(__name__)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def workspace_create(*, name: str, owner, default_country: str = "US") -> Workspace:
    name = name.strip()
    if not name:
        raise ServiceError("A workspace needs a name.", field="name")
    with transaction.atomic():
        workspace = Workspace.objects.create(
            name=name,
            slug=_unique_slug(name),
            default_country=_valid_country(default_country),
            created_by=owner,
        )
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def _valid_country(code: str) -> str:
    code = (code or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ServiceError(f"{code or '(empty)'} is not a country code phonenumbers knows.",
                           field="default_country")
    return code


def workspace_update(*, workspace: Workspace, name: str, default_country: str) -> Workspace:
    name = name.strip()
    if not name:
        raise ServiceError("A workspace needs a name.", field="name")
    workspace.name = name
    workspace.default_country = _valid_country(default_country)
    workspace.save(update_fields=["name", "default_country"])
    return workspace


def user_onboard(*, user) -> list[Membership]:
    """After sign-up: accept open invitations, or give the user a workspace of their own."""
    with transaction.atomic():
        invitations = list(
            Invitation.objects.select_for_update()
            .filter(email__iexact=user.email, accepted_at__isnull=True)
        )
        memberships = []
        for invitation in invitations:
            membership, _ = Membership.objects.get_or_create(
                workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
            )
            memberships.append(membership)
        Invitation.objects.filter(pk__in=[i.pk for i in invitations]).update(
            accepted_at=timezone.now()
        )
        if not memberships:
            local = user.email.split("@", 1)[0]
            workspace = workspace_create(name=f"{local}'s workspace", owner=user)
            memberships = [workspace.memberships.get(user=user)]
    return memberships


def _require_manager(actor: Membership) -> None:
    if actor.role not in MANAGING_ROLES:
        raise ServiceError("Only owners and admins can manage members.", code="forbidden")


def _check_role_grant(actor: Membership, role: str) -> None:
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.", field="role")
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise ServiceError("Only an owner can make someone an owner.", field="role",
                           code="forbidden")


def member_invite(*, actor: Membership, email: str, role: str) -> Membership | Invitation:
    """Add a person by email: at once if they have a login, else when they sign up."""
    _require_manager(actor)
    _check_role_grant(actor, role)
    email = email.strip().lower()
    if "@" not in email:
        raise ServiceError("Enter an email address.", field="email")
    workspace = actor.workspace
    user = get_user_model().objects.filter(email__iexact=email).first()
    if user is not None:
        membership, created = Membership.objects.get_or_create(
            workspace=workspace, user=user, defaults={"role": role}
        )
        if not created:
            raise ServiceError(f"{email} is already a member of {workspace}.", field="email")
        return membership
    try:
        invitation = Invitation.objects.create(
            workspace=workspace, email=email, role=role, invited_by=actor.user
        )
    except IntegrityError:
        raise ServiceError(f"{email} has already been invited.", field="email") from None
    signup_url = f"{settings.SITE_URL}/accounts/signup/"
    send_mail(
        subject=f"You are invited to {workspace} on Audience Sync",
        message=f"{actor.user.email} invited you to {workspace} as {role}.\n"
        f"Sign up with this email address to join: {signup_url}\n",
        from_email=None,
        recipient_list=[email],
        fail_silently=True,
    )
    return invitation


def invitation_revoke(*, actor: Membership, invitation_id: int) -> None:
    _require_manager(actor)
    deleted, _ = Invitation.objects.filter(
        pk=invitation_id, workspace=actor.workspace, accepted_at__isnull=True
    ).delete()
    if not deleted:
        raise ServiceError("That invitation does not exist or was already accepted.")


def _owners_left(workspace: Workspace, without: Membership) -> int:
    return workspace.memberships.filter(role=Role.OWNER).exclude(pk=without.pk).count()


def membership_change_role(*, actor: Membership, membership_id: int, role: str) -> Membership:
    _require_manager(actor)
    _check_role_grant(actor, role)
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(pk=membership_id, workspace=actor.workspace)
            .select_related("user")
            .first()
        )
        if membership is None:
            raise ServiceError("No such member in this workspace.", code="not_found")
        if membership.role == Role.OWNER and actor.role != Role.OWNER:
            raise ServiceError("Only an owner can change an owner's role.", code="forbidden")
        demoting_an_owner = membership.role == Role.OWNER and role != Role.OWNER
        if demoting_an_owner and _owners_left(actor.workspace, membership) == 0:
            raise ServiceError("A workspace needs at least one owner.")
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, actor: Membership, membership_id: int) -> None:
    _require_manager(actor)
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(pk=membership_id, workspace=actor.workspace)
            .first()
        )
        if membership is None:
            raise ServiceError("No such member in this workspace.", code="not_found")
        if membership.role == Role.OWNER:
            if actor.role != Role.OWNER:
                raise ServiceError("Only an owner can remove an owner.", code="forbidden")
            if _owners_left(actor.workspace, membership) == 0:
                raise ServiceError("A workspace needs at least one owner.")
        membership.delete()
