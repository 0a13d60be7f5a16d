"""Custom events past the track API: what the profile page shows, erasure and retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Value
from django.utils import timezone

from .models import Event, EventDailyCount, EventSummary, Profile

LATEST_SHOWN = 20


def profile_events_latest(*, profile: Profile, limit: int = LATEST_SHOWN) -> list[Event]:
    return list(Event.objects.filter(profile=profile).order_by("-time", "-pk")[:limit])


def profile_event_summaries(*, profile: Profile) -> QuerySet[EventSummary]:
    return EventSummary.objects.filter(profile=profile).order_by("name")


def profile_events_delete(*, profile_id: int) -> int:
    """Forget a profile's events, their summaries and daily counts (erasure); returns how
    many events went."""
    with transaction.atomic():
        EventDailyCount.objects.filter(profile_id=profile_id).delete()
        EventSummary.objects.filter(profile_id=profile_id).delete()
        deleted, _ = Event.objects.filter(profile_id=profile_id).delete()
    return deleted


def events_older_than(*, cutoff: datetime) -> QuerySet[Event]:
    """Raw events the retention purge deletes; summaries and daily counts are kept."""
    return Event.objects.filter(time__lt=cutoff)


@dataclass(frozen=True)
class EventVolume:
    """A workspace's event volume: events kept now, those received in the last 24 h, the
    distinct event names among the kept ones, and its per-profile summaries."""

    events: int = 0
    events_24h: int = 0
    event_names: int = 0
    summaries: int = 0


def workspaces_event_volume(*, workspace_ids: list[int] | None = None,
                            now: datetime | None = None) -> dict[int, EventVolume]:
    """Event volume by workspace id, in one query whatever the number of workspaces (one
    grouped scan of the events and one of the summaries, as a UNION ALL). Workspaces with
    neither events nor summaries are left out (their volume is ``EventVolume()``)."""
    since = (now or timezone.now()) - timedelta(hours=24)
    events = Event.objects.order_by().values("workspace_id").annotate(
        events=Count("id"), events_24h=Count("id", filter=Q(received_at__gte=since)),
        event_names=Count("name", distinct=True), summaries=Value(0))
    summaries = EventSummary.objects.order_by().values("workspace_id").annotate(
        events=Value(0), events_24h=Value(0), event_names=Value(0), summaries=Count("id"))
    if workspace_ids is not None:
        events = events.filter(workspace_id__in=workspace_ids)
        summaries = summaries.filter(workspace_id__in=workspace_ids)
    volume: dict[int, dict[str, int]] = {}
    for row in events.union(summaries, all=True):
        totals = volume.setdefault(row["workspace_id"], dict.fromkeys(
            ("events", "events_24h", "event_names", "summaries"), 0))
        for name in totals:
            totals[name] += row[name]
    return {workspace_id: EventVolume(**totals) for workspace_id, totals in volume.items()}
