"""Writes for workspaces, members and invitations."""

import logging
import secrets
import smtplib
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from audiencesync.errors import ServiceError

from . import identifiers
from .identifier_services import profiles_identifiers_refresh
from .models import (
    MANAGING_ROLES,
    Invitation,
    InvitationStatus,
    Membership,
    Role,
    Workspace,
    invitation_token_hash,
)
from .selectors import invitation_is_for

logger = logging.getLogger(__name__)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def workspace_create(*, name: str, owner, default_country: str = "US",
                     time_zone: str = "UTC") -> Workspace:
    name = name.strip()
    if not name:
        raise ServiceError("A workspace needs a name.", field="name")
    with transaction.atomic():
        workspace = Workspace.objects.create(
            name=name,
            slug=_unique_slug(name),
            default_country=_valid_country(default_country),
            time_zone=_valid_time_zone(time_zone or "UTC"),
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


def _valid_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ServiceError(f"{name or '(empty)'} is not an IANA time zone (Europe/Paris, "
                           "America/New_York, UTC).", field="time_zone") from None
    return name


def workspace_update(*, workspace: Workspace, name: str, default_country: str,
                     time_zone: str = "") -> Workspace:
    name = name.strip()
    if not name:
        raise ServiceError("A workspace needs a name.", field="name")
    country = _valid_country(default_country)
    country_changed = country != workspace.default_country
    workspace.name = name
    workspace.default_country = country
    if time_zone:  # a form without the field keeps the zone
        workspace.time_zone = _valid_time_zone(time_zone)
    with transaction.atomic():
        workspace.save(update_fields=["name", "default_country", "time_zone"])
        if country_changed:
            # A number written without a country code means another number now.
            profiles_identifiers_refresh(workspace=workspace, fields=[identifiers.PHONE])
    return workspace


def user_onboard(*, user) -> Membership:
    """After sign-up: a workspace of the user's own. Invitations are accepted by their link."""
    local = user.email.split("@", 1)[0]
    workspace = workspace_create(name=f"{local}'s workspace", owner=user)
    return workspace.memberships.get(user=user)


def membership_mark_used(*, membership: Membership) -> None:
    """The workspace a person opens becomes the one their next session starts in."""
    Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())


def _require_manager(actor: Membership) -> None:
    if actor.role not in MANAGING_ROLES:
        raise ServiceError("Only owners and admins can manage members.", code="forbidden")


def _check_role_grant(actor: Membership, role: str) -> None:
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.", field="role")
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise ServiceError("Only an owner can make someone an owner.", field="role",
                           code="forbidden")


def member_invite(*, actor: Membership, email: str, role: str) -> Invitation:
    """Email a link that joins the workspace once the owner of that address accepts it.

    The answer and the mail are the same whether or not the address has a login, so an
    admin learns nothing about other people's accounts. Inviting an address again sends a
    new link (with the new role) and kills the old one.
    """
    _require_manager(actor)
    _check_role_grant(actor, role)
    email = email.strip().lower()
    if "@" not in email:
        raise ServiceError("Enter an email address.", field="email")
    workspace = actor.workspace
    if workspace.memberships.filter(user__email__iexact=email).exists():
        # The members page lists this address already: saying so reveals nothing new.
        raise ServiceError(f"{email} is already a member of {workspace}.", field="email")
    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=settings.INVITATION_EXPIRY_DAYS)
    fields = {"role": role, "invited_by": actor.user, "token_hash": invitation_token_hash(token),
              "expires_at": expires_at}
    try:
        with transaction.atomic():
            invitation = Invitation.objects.select_for_update().filter(
                workspace=workspace, email=email, accepted_at__isnull=True,
                revoked_at__isnull=True,
            ).first()
            if invitation is None:
                invitation = Invitation.objects.create(workspace=workspace, email=email, **fields)
            else:
                for name, value in fields.items():
                    setattr(invitation, name, value)
                invitation.save(update_fields=list(fields))
            _invitation_mail(invitation=invitation, token=token)
    except IntegrityError:
        raise ServiceError(f"{email} was invited at this moment by someone else.",
                           field="email") from None
    return invitation


def _invitation_mail(*, invitation: Invitation, token: str) -> None:
    link = f"{settings.SITE_URL}{reverse('invitation', args=[token])}"
    try:
        send_mail(
            subject=f"You are invited to {invitation.workspace} on Audience Sync",
            message=(
                f"{invitation.invited_by.email} invited {invitation.email} to join "
                f"{invitation.workspace} on Audience Sync as {invitation.get_role_display()}.\n\n"
                f"To accept, open this link and log in (or sign up) as {invitation.email}:\n"
                f"{link}\n\n"
                f"The link expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC.\n"
            ),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("Invitation mail to workspace %s failed: %s", invitation.workspace_id, error)
        raise ServiceError(
            f"The invitation email could not be sent ({error.__class__.__name__}); "
            "nothing was saved. Check the mail settings (EMAIL_URL) and try again."
        ) from None


def invitation_accept(*, user, token: str) -> Membership:
    """Join the invitation's workspace with its role, if the user owns its verified address."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("workspace")
            .filter(token_hash=invitation_token_hash(token))
            .first()
        )
        invitation_check(invitation=invitation, user=user)
        membership, _ = Membership.objects.get_or_create(
            workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def invitation_check(*, invitation: Invitation | None, user=None) -> Invitation:
    """The invitation behind a link, if it can still be accepted (by that user, when one is
    given: the owner of the invited address, verified); else a plain reason."""
    status = invitation.status if invitation is not None else None
    if status == InvitationStatus.EXPIRED:
        raise ServiceError(
            f"This invitation expired on {invitation.expires_at:%Y-%m-%d}. Ask whoever "
            "invited you to invite you again.", code="expired")
    if status != InvitationStatus.PENDING:
        raise ServiceError(
            "This invitation link is not valid: it was already used, revoked, or replaced "
            "by a newer invitation.", code="invalid")
    if user is not None and not invitation_is_for(invitation=invitation, user=user):
        raise ServiceError(
            f"This invitation is for {invitation.email}, and you are logged in as "
            f"{user.email}. Log out, then log in as {invitation.email} (or sign up with that "
            "address) and open the link again.",
            code="wrong_account",
        )
    return invitation


def invitation_revoke(*, actor: Membership, invitation_id: int) -> None:
    _require_manager(actor)
    revoked = Invitation.objects.filter(
        pk=invitation_id, workspace=actor.workspace, accepted_at__isnull=True,
        revoked_at__isnull=True,
    ).update(revoked_at=timezone.now())
    if not revoked:
        raise ServiceError("That invitation does not exist, or was already accepted or revoked.")


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
