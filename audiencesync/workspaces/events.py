"""Custom events past the track API: what the profile page shows, erasure and retention."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet

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
