"""Canvases that react to behaviour: action-based entry on an event the track API accepts,
and the exit criteria (exception event, exit segment) checked at launch and kept after.

The track API hands its accepted events to ``events_accepted`` (registered on the ground
floor's hook in canvas/apps.py), inside the call's transaction: users leave canvases that
exit on these events, then enter action-based canvases that start on them, so a call
answered is a call whose entries and exits are committed. Events count by when the call
was accepted: the events' own times play no part, and an event accepted before a canvas
launched never enters anyone. A constant number of queries per matching canvas, whatever
the number of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.workspaces.models import EventSummary, Profile
from canvas.models import (
    Canvas,
    CanvasEntry,
    CanvasStatus,
    EntryMode,
    ExitCriteria,
    ScheduledRun,
)
from canvas.segments.compile import SegmentDefinitionError, definition_clean, definition_q

from .entry import canvas_enter_profiles
from .exits import entries_exit, events_exit, property_matches

EVENT_NAME_MAX_LENGTH = 64


def event_name_problem(name: str) -> str:
    """Why ``name`` cannot be an event's name ("" when it can)."""
    if len(name) > EVENT_NAME_MAX_LENGTH:
        return f"An event name has at most {EVENT_NAME_MAX_LENGTH} characters."
    if any(ord(c) < 32 for c in name):
        return "An event name cannot contain a control character."
    return ""


def event_filter_check(*, name: str, prop: str, value: str, which: str,
                       fields: tuple[str, str]) -> None:
    """ServiceError when an event filter (an event, optionally one property equal to a value)
    can never be right; ``which`` names the event ("entry", "exception") and ``fields`` are
    the form's names for the event and the property."""
    if problem := event_name_problem(name):
        raise ServiceError(problem, field=fields[0])
    if prop and not name:
        raise ServiceError(f"A property filter needs its {which} event: name the event.",
                           field=fields[0])
    if value and not prop:
        raise ServiceError(f"Name the property whose value the {which} event must have.",
                           field=fields[1])


def action_settings_check(*, entry_event: str, entry_event_property: str,
                          entry_event_value: str, entry_window_start: datetime | None,
                          entry_window_end: datetime | None) -> None:
    """ServiceError naming the field when the action-based settings can never be right."""
    event_filter_check(name=entry_event, prop=entry_event_property, value=entry_event_value,
                       which="entry", fields=("entry_event", "entry_event_property"))
    if entry_window_start and entry_window_end and entry_window_end <= entry_window_start:
        raise ServiceError("The entry window closes after it opens.", field="entry_window_end")


def _event_known(workspace_id: int, name: str) -> bool:
    return EventSummary.objects.filter(workspace_id=workspace_id, name=name).exists()


def action_launch_problems(*, canvas: Canvas) -> list[str]:
    """What keeps an action-based canvas from launching, and what of its exit criteria
    no longer exists, in words for the marketer."""
    problems = []
    if canvas.entry_mode == EntryMode.ACTION:
        if not canvas.entry_event:
            problems.append("Entry: an action-based canvas needs the event users enter on.")
        elif not _event_known(canvas.workspace_id, canvas.entry_event):
            problems.append(f"Entry: no event {canvas.entry_event!r} exists in this workspace "
                            "(the track API has accepted none, or their profiles were erased).")
        if canvas.entry_window_end is not None and canvas.entry_window_end <= timezone.now():
            problems.append(f"Entry: the entry window closed on "
                            f"{canvas.entry_window_end:%Y-%m-%d %H:%M} UTC.")
    criteria = ExitCriteria.objects.filter(canvas=canvas).select_related("segment").first()
    if criteria is None:
        return problems
    if criteria.event_name and not _event_known(canvas.workspace_id, criteria.event_name):
        problems.append(f"Exit criteria: no event {criteria.event_name!r} exists in this "
                        "workspace any more (or the track API has accepted none).")
    if criteria.segment_name and criteria.segment is None:
        problems.append(f"Exit criteria: segment {criteria.segment_name} no longer exists.")
    elif criteria.segment is not None:
        try:
            definition_clean(workspace=canvas.workspace, definition=criteria.segment.definition)
        except SegmentDefinitionError as error:
            problems.append(f"Exit criteria: segment {criteria.segment.name}: {error.message}")
    return problems


def action_describe(*, canvas: Canvas) -> str:
    """The action-based entry in a few words."""
    what = canvas.entry_event or "(no event yet)"
    if canvas.entry_event_property:
        what += f" with {canvas.entry_event_property} = {canvas.entry_event_value}"
    window = ""
    if canvas.entry_window_start:
        window += f" from {canvas.entry_window_start:%Y-%m-%d %H:%M} UTC"
    if canvas.entry_window_end:
        window += f" until {canvas.entry_window_end:%Y-%m-%d %H:%M} UTC"
    return f"Action-based: a user enters when they perform {what}{window}."


# --- the track API's accepted events --------------------------------------------------------


def events_accepted(*, workspace_id: int, events: Sequence[tuple[int, str, str]],
                    received_at: datetime) -> None:
    """The track API accepted ``events`` (profile, name, properties as JSON) just now.

    Exits first, then entries: an exception event and an entry event in one call leave
    the user entered, as if the calls had come one after the other in that order. Every
    canvas concerned is locked first, in id order, as entry and release lock a canvas
    before its entries, so none of them deadlocks with this call. Two queries when no
    canvas reacts to these names.
    """
    names = sorted({name for _, name, _ in events})
    rules = list(ExitCriteria.objects.filter(
        canvas__workspace_id=workspace_id, canvas__status=CanvasStatus.ACTIVE,
        event_name__in=names).values_list("canvas_id", "event_name", "event_property",
                                          "event_value"))
    starting = list(Canvas.objects.filter(
        Q(entry_window_start__isnull=True) | Q(entry_window_start__lte=received_at),
        Q(entry_window_end__isnull=True) | Q(entry_window_end__gte=received_at),
        workspace_id=workspace_id, status=CanvasStatus.ACTIVE, entry_mode=EntryMode.ACTION,
        entry_event__in=names, launched_at__lte=received_at,
    ).select_related("workspace", "target_segment").order_by("pk"))
    if not rules and not starting:
        return
    list(Canvas.objects.select_for_update().filter(
        pk__in=sorted({r[0] for r in rules} | {c.pk for c in starting})).order_by("pk")
        .values_list("pk", flat=True))
    if rules:
        events_exit(rules=rules, events=events, received_at=received_at)
    if starting:
        events_enter(canvases=starting, events=events)


def events_enter(*, canvases: Sequence[Canvas], events: Sequence[tuple[int, str, str]]) -> int:
    """Enter the users whose accepted event starts one of ``canvases`` (active,
    action-based, within their window: see ``events_accepted``) if they pass its target
    audience, re-entry rule and caps. Returns how many entered."""
    entered = 0
    for canvas in canvases:
        prop, value = canvas.entry_event_property, canvas.entry_event_value
        profile_ids = sorted({profile_id for profile_id, name, properties in events
                              if name == canvas.entry_event and property_matches(
                                  orjson.loads(properties) if prop else {}, prop, value)})
        if not profile_ids:
            continue
        try:
            entered += canvas_enter_profiles(canvas=canvas, profile_ids=profile_ids).entered
        except ServiceError:
            continue  # stopped since it was read: it takes no entries, the call goes on
    return entered


# --- the exit segment -----------------------------------------------------------------------


def exit_segments_due(*, now: datetime | None = None) -> int:
    """Check the exit segment of every active canvas whose check is due: a scheduled canvas
    at each of its runs, the others every CANVAS_EXIT_CHECK_MINUTES. Users inside who no
    longer match it leave, a chunk per transaction. Returns how many left."""
    now = now or timezone.now()
    ran_since = Exists(ScheduledRun.objects.filter(canvas_id=OuterRef("canvas_id"),
                                                   started_at__gt=OuterRef("segment_checked_at")))
    stale = now - timedelta(minutes=settings.CANVAS_EXIT_CHECK_MINUTES)
    due = (ExitCriteria.objects.filter(canvas__status=CanvasStatus.ACTIVE,
                                       segment__isnull=False)
           .filter(Q(segment_checked_at__isnull=True)
                   | Q(canvas__entry_mode=EntryMode.SCHEDULED) & ran_since
                   | ~Q(canvas__entry_mode=EntryMode.SCHEDULED)
                   & Q(segment_checked_at__lte=stale))
           .select_related("segment", "canvas"))
    left = 0
    for criteria in due:
        left += canvas_exit_segment_check(criteria=criteria, now=now)
    return left


def canvas_exit_segment_check(*, criteria: ExitCriteria, now: datetime) -> int:
    """Let out the users inside ``criteria``'s canvas who no longer match its exit segment."""
    matching = Profile.objects.filter(
        definition_q(definition=criteria.segment.definition,
                     workspace_id=criteria.canvas.workspace_id, now=now),
        workspace_id=criteria.canvas.workspace_id)
    left = 0
    while True:
        with transaction.atomic():
            chunk = list(CanvasEntry.objects.select_for_update()
                         .filter(canvas_id=criteria.canvas_id, exited_at__isnull=True)
                         .exclude(profile_id__in=matching.values("pk"))
                         .order_by("pk").values_list("pk", "canvas_id", "profile_id",
                                                     "current_step_id")
                         [:settings.CANVAS_EXIT_CHUNK])
            left += entries_exit(entries=chunk, now=timezone.now())
        if len(chunk) < settings.CANVAS_EXIT_CHUNK:
            break
    ExitCriteria.objects.filter(pk=criteria.pk).update(segment_checked_at=now)
    return left
