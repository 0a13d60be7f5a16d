"""Who may enter a canvas: its target audience, and the entry rules every way in applies.

The target audience is a segment plus extra filters of the same kinds; without one, it is
every live profile of the workspace. Everything here is a queryset or a count: a segment
is never read into memory, only compiled into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from audiencesync.workspaces import rows
from audiencesync.workspaces.models import Profile
from canvas.models import Canvas, CanvasEntry, Reentry
from canvas.occurrences import local_day_start, zone_get
from canvas.segments.compile import definition_q


def canvas_target_profiles(*, canvas: Canvas, now: datetime | None = None) -> QuerySet[Profile]:
    """Every profile the canvas's target audience holds now (one lazy query)."""
    condition = Q()
    for definition in _target_definitions(canvas):
        condition &= definition_q(definition=definition, workspace_id=canvas.workspace_id,
                                  now=now)
    return Profile.objects.live().filter(condition, workspace_id=canvas.workspace_id)


def canvas_has_target(*, canvas: Canvas) -> bool:
    return bool(_target_definitions(canvas))


def _target_definitions(canvas: Canvas) -> list[dict]:
    """The segment's definition, then the extra filters, as far as either says anything."""
    definitions = []
    if canvas.target_segment_id is not None:
        definitions.append(canvas.target_segment.definition)
    if canvas.target_filters:
        definitions.append(canvas.target_filters)
    return [d for d in definitions if d.get("groups") or d.get("exclusions")]


def profiles_in_target(*, canvas: Canvas, profile_ids: list[int]) -> list[int]:
    """Those of ``profile_ids`` the target audience holds, in id order (one query)."""
    return list(canvas_target_profiles(canvas=canvas)
                .filter(pk__in=rows.any_of(profile_ids, db_type="bigint"))
                .order_by("pk").values_list("pk", flat=True))


def reentry_blocked(*, canvas: Canvas, profile_ids: list[int], now: datetime) -> set[int]:
    """Those of ``profile_ids`` (none of them inside the canvas) its re-entry rule keeps out."""
    if canvas.reentry == Reentry.AFTER_EXIT or not profile_ids:
        return set()
    earlier = CanvasEntry.objects.filter(canvas=canvas,
                                         profile_id__in=rows.any_of(profile_ids, db_type="bigint"))
    if canvas.reentry == Reentry.AFTER_WAIT:
        earlier = earlier.filter(entered_at__gt=now - reentry_wait(canvas=canvas))
    return set(earlier.values_list("profile_id", flat=True).distinct())


def reentry_wait(*, canvas: Canvas) -> timedelta:
    return timedelta(**{canvas.reentry_wait_unit or "hours": canvas.reentry_wait_value or 0})


@dataclass(frozen=True)
class CapRoom:
    """How many more users each cap lets in now (None: no such cap)."""

    run: int | None
    day: int | None
    total: int | None

    def cut(self, count: int) -> tuple[int, dict[str, int]]:
        """Of ``count`` newcomers in id order: how many enter, and the users each cap kept out.

        Every user kept out is counted once, against the tightest cap (run, then day, then
        total when two are equally tight).
        """
        caps = [(room, name) for name, room in (("run", self.run), ("day", self.day),
                                                ("total", self.total)) if room is not None]
        if not caps:
            return count, {}
        room, name = min(caps, key=lambda cap: cap[0])
        kept = min(count, max(room, 0))
        return kept, ({name: count - kept} if count > kept else {})


def cap_room(*, canvas: Canvas, now: datetime, run_room: int | None = None) -> CapRoom:
    """The room left under the canvas's caps (a count query per daily or total cap set)."""
    entries = CanvasEntry.objects.filter(canvas=canvas)
    day = total = None
    if canvas.cap_per_day is not None:
        since = local_day_start(zone=zone_get(canvas.workspace.time_zone), now=now)
        day = canvas.cap_per_day - entries.filter(entered_at__gte=since).count()
    if canvas.cap_total is not None:
        total = canvas.cap_total - entries.count()
    return CapRoom(run=run_room, day=day, total=total)


def segment_use_problem(*, segment) -> str | None:
    """Why the segment cannot be deleted (the canvases it is the target audience of), if it
    cannot; the model's PROTECT refuses the delete whatever the caller forgets."""
    names = list(segment.canvases.order_by("name").values_list("name", flat=True))
    if not names:
        return None
    return (f"Segment {segment.name} is the target audience of "
            f"{'canvas' if len(names) == 1 else 'canvases'} {', '.join(names)}: choose another "
            "target audience there first.")


def segment_edit_warning(*, segment) -> str | None:
    """What editing a segment changes for live canvases, if any use it."""
    names = list(segment.canvases.filter(status="active").order_by("name")
                 .values_list("name", flat=True))
    if not names:
        return None
    return (f"Live {'canvas' if len(names) == 1 else 'canvases'} {', '.join(names)} will use "
            "the new definition from their next entry on.")
