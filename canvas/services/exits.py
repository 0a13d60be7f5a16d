"""Users leaving a canvas before its end: on an exception event (see actions.py), and when
it stops.

Every exit is counted on the step the user stood at ("Exited canvas") and lets go of the
audiences the canvas holds them in (remove on exit, memberships.memberships_release).
Exits lock the entries they end (in id order), so a Delay releasing the same users waits
and then no longer sees them; work per call is a constant number of queries, and a stop
with any number of users inside ends their journeys in chunks, each its own transaction.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audiencesync.workspaces import rows
from canvas.models import Canvas, CanvasEntry, CanvasStatus, Step
from canvas.steps import Increments, step_type

from .memberships import memberships_release
from .stats import step_stats_add

# (entry id, canvas id, profile id, step the user waits at)
EntryRow = tuple[int, int, int, int | None]
_ENTRY_ROW = ("pk", "canvas_id", "profile_id", "current_step_id")


def entries_exit(*, entries: Sequence[EntryRow], now: datetime) -> int:
    """End these journeys now: the users leave the step they wait at and the canvas (its
    kind counts them, as when they leave the last step).

    The caller holds the entries' row locks, in its transaction. Returns how many left.
    """
    if not entries:
        return 0
    CanvasEntry.objects.filter(pk__in=rows.any_of([e[0] for e in entries], db_type="bigint")
                               ).update(exited_at=now, resume_at=None)
    at_step: dict[int, list[int]] = defaultdict(list)
    for _, _, profile_id, step_id in entries:
        if step_id is not None:
            at_step[step_id].append(profile_id)
    increments: Increments = {}
    for step in Step.objects.filter(pk__in=sorted(at_step)):
        leaving = at_step[step.pk]
        _merge(increments, step_type(step.kind).on_exit(step=step, profile_ids=leaving,
                                                        onward=False, now=now))
    _merge(increments, memberships_release(
        exits=[(canvas_id, profile_id) for _, canvas_id, profile_id, _ in entries], now=now))
    step_stats_add(increments=increments, at=now)
    return len(entries)


def _merge(into: Increments, more: Increments) -> None:
    for step_id, counts in more.items():
        mine = into.setdefault(step_id, {})
        for name, n in counts.items():
            mine[name] = mine.get(name, 0) + n


# --- stop ----------------------------------------------------------------------------------


def _exit_chunk(canvas_id: int) -> int:
    """Let up to CANVAS_EXIT_CHUNK users out of a stopped canvas, in one transaction."""
    with transaction.atomic():
        chunk = list(CanvasEntry.objects.select_for_update()
                     .filter(canvas_id=canvas_id, exited_at__isnull=True)
                     .order_by("pk").values_list(*_ENTRY_ROW)[:settings.CANVAS_EXIT_CHUNK])
        return entries_exit(entries=chunk, now=timezone.now())


def canvas_exits_drain(*, canvas_id: int, seconds: float | None = None) -> bool:
    """Let the users still inside a stopped canvas out, a chunk at a time, each committed
    on its own; for at most about ``seconds`` (None: until nobody is inside). True when
    nobody is left inside."""
    end = None if seconds is None else time.monotonic() + seconds
    while _exit_chunk(canvas_id) == settings.CANVAS_EXIT_CHUNK:
        if end is not None and time.monotonic() >= end:
            return False
    return True


def exits_due() -> int:
    """One chunk of exits of every stopped canvas that still has users inside (what a stop
    left to the background; the dispatcher's tick calls it). Returns how many left."""
    stopped = list(Canvas.objects.filter(status=CanvasStatus.STOPPED,
                                         entries__exited_at__isnull=True)
                   .values_list("pk", flat=True).distinct())
    return sum(_exit_chunk(canvas_id) for canvas_id in stopped)


# --- exception events ----------------------------------------------------------------------


def property_matches(properties: dict, name: str, value: str) -> bool:
    """The event's property ``name`` equals ``value``, compared as the marketer typed it:
    text as text, ``true``/``false`` as booleans, numbers as numbers (``12`` matches 12.0)."""
    if not name:
        return True
    if name not in properties:
        return False
    actual = properties[name]
    if isinstance(actual, str):
        return actual == value
    if isinstance(actual, bool):
        return value.strip().lower() == ("true" if actual else "false")
    if isinstance(actual, int | float):
        try:
            return float(value) == actual
        except ValueError:
            return False
    return False


def events_exit(*, rules: Sequence[tuple[int, str, str, str]],
                events: Sequence[tuple[int, str, str]], received_at: datetime) -> int:
    """Events the track API just accepted (profile, name, properties as JSON): users inside
    a canvas whose exception event (``rules``: canvas, event name, property, value) one of
    them is leave it at once, wherever they wait. The caller holds the canvases' locks.
    One query, whatever the number of events, then the exits'."""
    by_name: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for canvas_id, name, prop, value in rules:
        by_name[name].append((canvas_id, prop, value))
    leaving: set[tuple[int, int]] = set()
    for profile_id, name, properties in events:
        for canvas_id, prop, value in by_name.get(name, ()):
            if property_matches(orjson.loads(properties) if prop else {}, prop, value):
                leaving.add((canvas_id, profile_id))
    if not leaving:
        return 0
    inside = [row for row in CanvasEntry.objects.select_for_update().filter(
        canvas_id__in=sorted({c for c, _ in leaving}), exited_at__isnull=True,
        profile_id__in=rows.any_of(sorted({p for _, p in leaving}), db_type="bigint"),
    ).order_by("pk").values_list(*_ENTRY_ROW) if (row[1], row[2]) in leaving]
    return entries_exit(entries=inside, now=received_at)
