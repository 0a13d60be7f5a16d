"""Reads for partner connections and ad accounts, always scoped to a workspace."""

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from audiencesync.workspaces.models import Workspace

from . import ratelimit, registry
from .base import AudienceInfo, Partner
from .models import AdAccount, ConnectionStatus, PartnerConnection

# How long a partner's audience list is reused before it is fetched again.
AUDIENCE_LIST_CACHE_S = 60


def connection_for(*, workspace: Workspace, partner_key: str) -> PartnerConnection | None:
    return PartnerConnection.objects.filter(workspace=workspace, partner=partner_key).first()


def connections_by_partner(*, workspace: Workspace) -> dict[str, PartnerConnection]:
    """Each partner's connection, with ``selected_accounts``: the reachable ad accounts chosen
    for syncing (not every account the token reaches)."""
    connections = PartnerConnection.objects.filter(workspace=workspace).annotate(
        selected_accounts=Count("ad_accounts",
                                filter=Q(ad_accounts__selected=True, ad_accounts__reachable=True)))
    return {c.partner: c for c in connections}


def ad_accounts_selectable(*, workspace: Workspace, partner_key: str) -> QuerySet[AdAccount]:
    """Selected accounts of a healthy connection: the ones a step may sync to."""
    return AdAccount.objects.filter(
        connection__workspace=workspace,
        connection__partner=partner_key,
        connection__status=ConnectionStatus.ACTIVE,
        selected=True,
        reachable=True,
    )


def connection_health_problem(
    *, partner_key: str, connection: PartnerConnection | None
) -> str | None:
    """What stops syncs to the partner, in words for the marketer; None when nothing does.

    The one wording of a connection's health: launch checks, canvas banners and refused
    partner calls all say it this way.
    """
    name = registry.get(partner_key).name
    if connection is not None and connection.status == ConnectionStatus.INVALID:
        return (f"{name} cannot sync: the {name} token is invalid. Disconnect and reconnect "
                f"on the {name} partner page.")
    if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
        return f"{name} is not connected. Connect it on the {name} partner page."
    return None


def partner_audiences_cache_key(*, ad_account: AdAccount) -> str:
    return f"partner-audiences:{ad_account.pk}"


def partner_audiences_cached(*, ad_account: AdAccount) -> list[AudienceInfo] | None:
    """The ad account's audiences as the partner last listed them, if fetched lately."""
    return cache.get(partner_audiences_cache_key(ad_account=ad_account))


@dataclass(frozen=True)
class RateScopeReport:
    """A rate scope's budgets, what was used of them, and until when a spent one pauses it."""

    key: str
    per_s: float
    per_min: int | None
    per_day: int | None
    used_per_s_last_60s: float
    used_this_minute: int | None
    used_today: int | None
    paused_until: datetime | None

    def as_dict(self) -> dict:
        return {"scope": self.key, "limit_per_s": self.per_s, "limit_per_min": self.per_min,
                "limit_per_day": self.per_day, "used_per_s_last_60s": self.used_per_s_last_60s,
                "used_this_minute": self.used_this_minute, "used_today": self.used_today,
                "paused_until": self.paused_until.isoformat() if self.paused_until else None}


def rate_scope_report(*, partner: Partner, connection_id: int | None) -> RateScopeReport:
    """The budgets of the scope a connection's calls count against, as the limiter counts
    them now (a few reads of the limiter's store)."""
    limits = partner.rate_limits
    key = partner.rate_key(connection_id)
    state = ratelimit.scope_state(key, per_min=limits.per_min, per_day=limits.per_day)
    used = {use.name: use.used for use in state.windows}
    return RateScopeReport(
        key=key, per_s=limits.per_s, per_min=limits.per_min, per_day=limits.per_day,
        used_per_s_last_60s=round(ratelimit.used_per_s(key), 1),
        used_this_minute=used.get("minute"), used_today=used.get("day"),
        paused_until=state.paused_until)
