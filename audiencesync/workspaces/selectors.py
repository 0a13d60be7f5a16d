"""Reads for workspaces and members."""

from django.db.models import QuerySet

from .models import Invitation, Membership, Workspace


def memberships_for_user(*, user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("workspace").order_by(
        "workspace__name"
    )


def membership_for(*, user, workspace_id: int | None) -> Membership | None:
    """The user's membership in that workspace, else their first one, else None."""
    memberships = memberships_for_user(user=user)
    if workspace_id is not None:
        chosen = memberships.filter(workspace_id=workspace_id).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def workspace_holding(*, user, workspace_ids: QuerySet) -> Workspace | None:
    """Of ``workspace_ids`` (a subquery), the first workspace ``user`` is a member of."""
    return (Workspace.objects.filter(pk__in=workspace_ids, memberships__user=user)
            .order_by("name", "pk").first())


def workspace_members(*, workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("user__email")


def workspace_member(*, workspace: Workspace, membership_id: int | None) -> Membership | None:
    return workspace.memberships.select_related("user").filter(pk=membership_id).first()


def workspace_open_invitations(*, workspace: Workspace) -> QuerySet[Invitation]:
    return Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True)
