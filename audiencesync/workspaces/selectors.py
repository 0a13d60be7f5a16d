"""Reads for workspaces and members."""

from allauth.account.models import EmailAddress
from django.db.models import F, QuerySet

from .models import Invitation, Membership, Workspace, invitation_token_hash


def memberships_for_user(*, user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("workspace").order_by(
        "workspace__name"
    )


def membership_for(*, user, workspace_id: int | None) -> Membership | None:
    """The user's membership in that workspace, else the one they used last, else None.

    Never a workspace by its name's rank: a person lands where they last worked.
    """
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    if workspace_id is not None:
        chosen = memberships.filter(workspace_id=workspace_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by(F("last_used_at").desc(nulls_last=True), "created_at", "pk").first()


def workspace_holding(*, user, workspace_ids: QuerySet) -> Workspace | None:
    """Of ``workspace_ids`` (a subquery), the first workspace ``user`` is a member of."""
    return (Workspace.objects.filter(pk__in=workspace_ids, memberships__user=user)
            .order_by("name", "pk").first())


def workspace_members(*, workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("user__email")


def workspace_member(*, workspace: Workspace, membership_id: int | None) -> Membership | None:
    return workspace.memberships.select_related("user").filter(pk=membership_id).first()


def workspace_open_invitations(*, workspace: Workspace) -> QuerySet[Invitation]:
    """Invitations not accepted or revoked, expired ones included (the page marks them)."""
    return Invitation.objects.filter(
        workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")


def invitation_for_token(*, token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


def invitation_is_for(*, invitation: Invitation, user) -> bool:
    """Whether the user owns the invited address, verified (their login or another of theirs)."""
    return EmailAddress.objects.filter(
        user=user, email__iexact=invitation.email, verified=True
    ).exists()
