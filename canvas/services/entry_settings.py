"""A canvas's entry settings: how users enter (API-triggered or scheduled), who may enter
(the target audience), how often (re-entry) and how many (caps); and what of them keeps a
canvas from launching."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, time

from django.utils import timezone

from audiencesync.errors import ServiceError
from canvas.models import Canvas, CanvasStatus, EntryMode, Reentry, ReentryUnit, ScheduleKind
from canvas.occurrences import local_instant, zone_get
from canvas.segments.compile import SegmentDefinitionError, definition_clean
from canvas.segments.models import Segment

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class EntrySettings:
    entry_mode: str = EntryMode.API
    schedule_kind: str = ScheduleKind.AT_LAUNCH
    schedule_date: date | None = None
    schedule_time: time | None = None
    schedule_weekdays: tuple[int, ...] = ()
    schedule_monthday: int | None = None
    schedule_end_date: date | None = None
    reentry: str = Reentry.AFTER_EXIT
    reentry_wait_value: int | None = None
    reentry_wait_unit: str = ""
    cap_per_run: int | None = None
    cap_per_day: int | None = None
    cap_total: int | None = None
    target_segment_id: int | None = None
    target_filters: dict = field(default_factory=dict)


def canvas_entry_settings_update(*, canvas: Canvas, settings: EntrySettings) -> Canvas:
    """Save the entry settings of a draft canvas.

    Incomplete settings are saved (a schedule without its time yet); launch names what is
    missing. Values that can never be right are refused here, naming the field.
    """
    canvas.refresh_from_db(fields=["status"])
    if canvas.status != CanvasStatus.DRAFT:
        raise ServiceError(f"{canvas.name!r} is {canvas.get_status_display().lower()}: its "
                           "entry settings cannot change. Duplicate it as a new draft.",
                           code="conflict")
    if settings.entry_mode not in EntryMode.values:
        raise ServiceError(f"Unknown entry mode {settings.entry_mode!r}.", field="entry_mode")
    if settings.schedule_kind not in ScheduleKind.values:
        raise ServiceError(f"Unknown schedule {settings.schedule_kind!r}.", field="schedule_kind")
    if any(day not in range(7) for day in settings.schedule_weekdays):
        raise ServiceError("Days of the week are 0 (Monday) to 6 (Sunday).",
                           field="schedule_weekdays")
    if settings.schedule_monthday is not None and not 1 <= settings.schedule_monthday <= 31:
        raise ServiceError("The day of the month is 1 to 31 (a day past the end of a shorter "
                           "month runs on its last day).", field="schedule_monthday")
    if settings.reentry not in Reentry.values:
        raise ServiceError(f"Unknown re-entry rule {settings.reentry!r}.", field="reentry")
    if settings.reentry_wait_unit not in ("", *ReentryUnit.values):
        raise ServiceError("Re-entry waits a number of hours or days.", field="reentry_wait_unit")
    if settings.reentry_wait_value is not None and settings.reentry_wait_value < 1:
        raise ServiceError("Re-entry waits at least 1 hour or day.", field="reentry_wait_value")
    for name in ("cap_per_run", "cap_per_day", "cap_total"):
        value = getattr(settings, name)
        if value is not None and value < 1:
            raise ServiceError(f"{Canvas._meta.get_field(name).verbose_name} is at least 1 "
                               "(leave it empty for no cap).", field=name)
    if settings.target_segment_id is not None and not Segment.objects.filter(
            pk=settings.target_segment_id, workspace_id=canvas.workspace_id).exists():
        raise ServiceError("That segment is not one of this workspace's.",
                           field="target_segment_id")
    filters = settings.target_filters or {}
    if filters:
        try:
            filters = definition_clean(workspace=canvas.workspace, definition=filters)
        except SegmentDefinitionError as error:
            raise ServiceError(f"Extra filters: {error.message}", field="target_filters") from None
    settings = replace(settings, target_filters=filters if any(filters.values()) else {})
    for name, value in settings.__dict__.items():
        setattr(canvas, name, list(value) if name == "schedule_weekdays" else value)
    canvas.schedule_weekdays = sorted(set(canvas.schedule_weekdays))
    canvas.save(update_fields=list(settings.__dict__))
    return canvas


def entry_launch_problems(*, canvas: Canvas) -> list[str]:
    """What the entry settings lack to launch, in words for the marketer."""
    problems = []
    where = "Entry"
    segment = canvas.target_segment
    # Checked again: an attribute or canvas a filter names may have gone since it was saved.
    checked = [("extra filters", canvas.target_filters)]
    if segment is not None:
        checked.insert(0, (f"target segment {segment.name}", segment.definition))
    for what, definition in checked:
        if definition:
            try:
                definition_clean(workspace=canvas.workspace, definition=definition)
            except SegmentDefinitionError as error:
                problems.append(f"{where}: {what}: {error.message}")
    if canvas.reentry == Reentry.AFTER_WAIT and not (canvas.reentry_wait_value
                                                     and canvas.reentry_wait_unit):
        problems.append(f"{where}: say how many hours or days a user waits before entering "
                        "again.")
    if canvas.entry_mode != EntryMode.SCHEDULED:
        return problems
    kind = canvas.schedule_kind
    if kind == ScheduleKind.AT_LAUNCH:
        return problems
    if canvas.schedule_time is None:
        problems.append(f"{where}: the schedule has no time.")
    if kind == ScheduleKind.ONCE:
        if canvas.schedule_date is None:
            problems.append(f"{where}: the schedule has no date.")
        elif canvas.schedule_time is not None and local_instant(
                canvas.schedule_date, canvas.schedule_time,
                zone_get(canvas.workspace.time_zone)) <= timezone.now():
            problems.append(f"{where}: {canvas.schedule_date} {canvas.schedule_time:%H:%M} "
                            f"({canvas.workspace.time_zone}) has passed.")
    if kind == ScheduleKind.WEEKLY and not canvas.schedule_weekdays:
        problems.append(f"{where}: choose at least one day of the week.")
    if kind == ScheduleKind.MONTHLY and canvas.schedule_monthday is None:
        problems.append(f"{where}: choose the day of the month.")
    if (kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY, ScheduleKind.MONTHLY)
            and canvas.schedule_end_date is not None
            and canvas.schedule_end_date < timezone.now().astimezone(
                zone_get(canvas.workspace.time_zone)).date()):
        problems.append(f"{where}: the schedule ended on {canvas.schedule_end_date}.")
    return problems


def schedule_describe(*, canvas: Canvas) -> str:
    """The schedule in a few words ("Every Monday and Friday at 09:00 Europe/Paris")."""
    if canvas.entry_mode != EntryMode.SCHEDULED:
        return "API-triggered: users enter through the entries API or Enter all profiles."
    kind = canvas.schedule_kind
    if kind == ScheduleKind.AT_LAUNCH:
        return "Scheduled: the target audience enters once, at launch."
    at = f"{canvas.schedule_time:%H:%M}" if canvas.schedule_time else "(no time yet)"
    zone = canvas.workspace.time_zone
    if kind == ScheduleKind.ONCE:
        return f"Scheduled: once, on {canvas.schedule_date or '(no date yet)'} at {at} {zone}."
    if kind == ScheduleKind.DAILY:
        when = "every day"
    elif kind == ScheduleKind.WEEKLY:
        days = [WEEKDAYS[d] for d in canvas.schedule_weekdays] or ["(no day yet)"]
        when = "every " + " and ".join([", ".join(days[:-1]), days[-1]] if len(days) > 1
                                       else days)
    else:
        day = canvas.schedule_monthday
        when = (f"on day {day} of every month (the last day of a shorter month)" if day
                else "every month (no day yet)")
    until = f", until {canvas.schedule_end_date}" if canvas.schedule_end_date else ""
    return f"Scheduled: {when} at {at} {zone}{until}."
