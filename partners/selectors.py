"""Reads for partner connections and ad accounts, always scoped to a workspace."""

from django.db.models import QuerySet

from audiencesync.workspaces.models import Workspace

from .models import AdAccount, ConnectionStatus, PartnerConnection


def connection_for(*, workspace: Workspace, partner_key: str) -> PartnerConnection | None:
    return PartnerConnection.objects.filter(workspace=workspace, partner=partner_key).first()


def connections_by_partner(*, workspace: Workspace) -> dict[str, PartnerConnection]:
    return {c.partner: c for c in PartnerConnection.objects.filter(workspace=workspace)}


def ad_accounts_selectable(*, workspace: Workspace, partner_key: str) -> QuerySet[AdAccount]:
    """Selected accounts of a healthy connection: the ones a step may sync to."""
    return AdAccount.objects.filter(
        connection__workspace=workspace,
        connection__partner=partner_key,
        connection__status=ConnectionStatus.ACTIVE,
        selected=True,
        reachable=True,
    )
