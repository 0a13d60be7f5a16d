"""Writes for partner connections: connect, refresh, check, invalidate, disconnect."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from audiencesync.errors import ServiceError
from audiencesync.workspaces.models import MANAGING_ROLES, Membership, Workspace

from . import registry
from .base import AudienceInfo, Credentials, InvalidToken, Partner, PartnerError, TokenSet
from .models import AdAccount, ConnectionStatus, PartnerConnection
from .selectors import (
    AUDIENCE_LIST_CACHE_S,
    connection_health_problem,
    partner_audiences_cache_key,
    partner_audiences_cached,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


def connection_credentials(*, connection: PartnerConnection, share: float = 1.0) -> Credentials:
    return Credentials(access_token=connection.access_token, connection_id=connection.pk,
                       share=share)


def _apply_tokens(connection: PartnerConnection, tokens: TokenSet) -> None:
    connection.access_token = tokens.access_token
    connection.refresh_token = tokens.refresh_token or connection.refresh_token
    connection.token_hint = tokens.access_token[-4:]
    connection.scope = tokens.scope
    connection.token_obtained_at = timezone.now()
    connection.expires_at = tokens.expires_at
    connection.refresh_expires_at = tokens.refresh_expires_at


def connection_connect(
    *, workspace: Workspace, partner: Partner, tokens: TokenSet, user
) -> PartnerConnection:
    """Store a fresh grant (new or reconnect) and list the ad accounts it reaches."""
    with transaction.atomic():
        connection, _ = PartnerConnection.objects.select_for_update().get_or_create(
            workspace=workspace, partner=partner.key
        )
        _apply_tokens(connection, tokens)
        connection.status = ConnectionStatus.ACTIVE
        connection.connected_by = user
        connection.connected_at = timezone.now()
        connection.invalid_since = None
        connection.last_error = ""
        connection.save()
    ad_accounts_refresh(connection=connection)
    return connection


def ad_accounts_refresh(*, connection: PartnerConnection) -> list[AdAccount]:
    """Upsert the partner's list; accounts it no longer lists are marked unreachable."""
    accounts = connection_call(
        connection=connection,
        call=lambda partner, creds: partner.list_ad_accounts(credentials=creds),
    )
    with transaction.atomic():
        AdAccount.objects.bulk_create(
            [
                AdAccount(connection=connection, external_id=a.id, name=a.name,
                          currency=a.currency, country=a.country, reachable=True)
                for a in accounts
            ],
            update_conflicts=True,
            unique_fields=["connection", "external_id"],
            update_fields=["name", "currency", "country", "reachable"],
        )
        connection.ad_accounts.exclude(external_id__in=[a.id for a in accounts]).update(
            reachable=False, selected=False
        )
    return list(connection.ad_accounts.all())


def ad_accounts_select(*, connection: PartnerConnection, external_ids: list[str]) -> int:
    """Choose which reachable ad accounts canvases may sync to."""
    with transaction.atomic():
        accounts = connection.ad_accounts.filter(reachable=True)
        unknown = set(external_ids) - set(accounts.values_list("external_id", flat=True))
        if unknown:
            raise ServiceError(f"A chosen ad account is not one of this "
                               f"{connection.get_partner_display()} connection's; reload the "
                               "page and choose again.", field="ad_account")
        accounts.exclude(external_id__in=external_ids).update(selected=False)
        return accounts.filter(external_id__in=external_ids).update(selected=True)


def connection_mark_invalid(*, connection: PartnerConnection, error: PartnerError) -> bool:
    """The partner refused the token: canvases using it show an error until reconnect."""
    # The refusal is the latest check of the token: the page shows one "last check" time.
    now = timezone.now()
    changed = PartnerConnection.objects.filter(
        pk=connection.pk, status=ConnectionStatus.ACTIVE
    ).update(status=ConnectionStatus.INVALID, invalid_since=now, last_checked_at=now,
             last_error=error.message)
    if changed:
        logger.warning("%s connection %s turned invalid: %s", connection.partner,
                       connection.pk, error.message)
        # Once per turn to invalid, only if this transaction commits, and from a background
        # task: never from the sender loop that noticed it.
        message = error.message
        transaction.on_commit(lambda: async_task("partners.tasks.alert_connection_invalid",
                                                 connection.pk, message))
    connection.refresh_from_db(fields=["status", "invalid_since", "last_checked_at", "last_error"])
    return bool(changed)


def connection_invalid_alert(*, connection_id: int, message: str) -> list[str]:
    """Email the workspace's owners and admins (who can reconnect), and whoever connected
    it while still a member, that syncs are paused; returns the recipients."""
    connection = PartnerConnection.objects.select_related("workspace").get(pk=connection_id)
    workspace = connection.workspace
    members = Membership.objects.filter(workspace=workspace)
    recipients = list(members.filter(role__in=MANAGING_ROLES)
                      .values_list("user__email", flat=True))
    connector = members.filter(user_id=connection.connected_by_id).values_list(
        "user__email", flat=True).first()
    if connector and connector not in recipients:
        recipients.append(connector)
    if not recipients:
        return []
    name = registry.get(connection.partner).name
    page = f"{settings.SITE_URL}{reverse('partners:detail', args=[connection.partner])}"
    try:
        send_mail(
            subject=f"{name} token is invalid: syncs to {name} are paused ({workspace})",
            message=(
                f"Workspace {workspace}: {message}\n\n"
                f"Users reaching {name} sync steps wait (nothing is lost) until someone "
                f"reconnects {name}. An owner or admin can reconnect here (switch to "
                f"{workspace} first):\n{page}\n\n"
                f"If reconnecting does not help, check that the {name} account that approves "
                "the connection still has the permissions the app asks for.\n"
            ),
            from_email=None, recipient_list=recipients,
        )
    except Exception:  # the alert is a courtesy: the banner and the partner page say it too
        logger.exception("Could not email the %s alert for workspace %s.", name, workspace.pk)
        return []
    return recipients


def _refresh_due(connection: PartnerConnection) -> bool:
    if not connection.refresh_token or connection.expires_at is None:
        return False
    obtained = connection.token_obtained_at or connection.connected_at or timezone.now()
    half_life = (connection.expires_at - obtained) / 2
    return timezone.now() >= obtained + half_life


def connection_refresh_if_due(*, connection: PartnerConnection, partner: Partner) -> bool:
    """Refresh a token past half its life; one refresh even with many workers at once."""
    if not _refresh_due(connection):
        return False
    with transaction.atomic():
        locked = PartnerConnection.objects.select_for_update().get(pk=connection.pk)
        if not _refresh_due(locked) or locked.status != ConnectionStatus.ACTIVE:
            connection.refresh_from_db()
            return False
        # An InvalidToken here propagates to connection_call, which marks the connection.
        tokens = partner.refresh(refresh_token=locked.refresh_token)
        _apply_tokens(locked, tokens)
        locked.save()
    connection.refresh_from_db()
    return True


def connection_call(
    *, connection: PartnerConnection, call: Callable[[Partner, Credentials], T],
    share: float = 1.0,
) -> T:
    """Every authenticated partner call goes through here: refresh, call, notice bad tokens.
    ``share``: the part of the scope's rate budget the calls may take (``Credentials``)."""
    partner = registry.get(connection.partner)
    if connection.status != ConnectionStatus.ACTIVE:
        raise ServiceError(
            connection_health_problem(partner_key=connection.partner, connection=connection),
            code="not_connected",
        )
    try:
        connection_refresh_if_due(connection=connection, partner=partner)
        return call(partner, connection_credentials(connection=connection, share=share))
    except InvalidToken as error:
        connection_mark_invalid(connection=connection, error=error)
        raise


def partner_audiences_fetch(
    *, ad_account: AdAccount, refresh: bool = False
) -> list[AudienceInfo]:
    """The ad account's audiences as the partner lists them: the list fetched lately, else
    (or when ``refresh``) a new one, kept for a minute. A call may refresh the token or
    mark the connection invalid (``connection_call``)."""
    listed = None if refresh else partner_audiences_cached(ad_account=ad_account)
    if listed is None:
        listed = connection_call(
            connection=ad_account.connection,
            call=lambda partner, creds: partner.list_audiences(
                credentials=creds, ad_account_id=ad_account.external_id),
        )
        cache.set(partner_audiences_cache_key(ad_account=ad_account), listed,
                  AUDIENCE_LIST_CACHE_S)
    return listed


def connection_check(*, connection: PartnerConnection) -> PartnerConnection:
    """One cheap authenticated call; records when, and what went wrong if anything."""
    try:
        connection_call(
            connection=connection,
            call=lambda partner, creds: partner.check(credentials=creds),
        )
    except InvalidToken:
        pass  # connection_call marked it invalid, with the partner's message
    except PartnerError as error:
        connection.last_error = f"Check failed: {error.message}"
        connection.save(update_fields=["last_error"])
    else:
        connection.last_error = ""
        connection.save(update_fields=["last_error"])
    PartnerConnection.objects.filter(pk=connection.pk).update(last_checked_at=timezone.now())
    connection.refresh_from_db()
    return connection


def connections_check_all(*, workspace: Workspace | None = None) -> list[PartnerConnection]:
    connections = PartnerConnection.objects.filter(status=ConnectionStatus.ACTIVE)
    if workspace is not None:
        connections = connections.filter(workspace=workspace)
    return [connection_check(connection=c) for c in connections.select_related("workspace")]


def connection_disconnect(*, connection: PartnerConnection) -> PartnerConnection:
    """Forget the tokens (revoking them at the partner when it can); keep accounts and audiences."""
    partner = registry.get(connection.partner)
    if connection.access_token and connection.status == ConnectionStatus.ACTIVE:
        try:
            partner.revoke(credentials=connection_credentials(connection=connection))
        except PartnerError as error:
            logger.info("Revoking the %s token at disconnect failed: %s", partner.name,
                        error.message)
    connection.access_token = ""
    connection.refresh_token = ""
    connection.token_hint = ""
    connection.expires_at = None
    connection.refresh_expires_at = None
    connection.status = ConnectionStatus.DISCONNECTED
    connection.save()
    return connection

