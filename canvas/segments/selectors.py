"""Reads for segments; always workspace-scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from audiencesync.workspaces.identifiers import FIELDS
from audiencesync.workspaces.models import AttributeDefinition, EventSummary, Workspace
from canvas.models import Canvas

from .models import Segment

IDENTIFIER_LABELS = {"email": "Email", "phone": "Phone", "idfa": "IDFA", "gaid": "GAID"}
EVENT_NAMES_SHOWN = 200


def segments_for(*, workspace: Workspace) -> QuerySet[Segment]:
    return Segment.objects.filter(workspace=workspace)


@dataclass(frozen=True)
class SizeState:
    """What the page says about a segment's size."""

    size: int | None
    computed_at: datetime | None
    calculating: bool  # asked for and not answered since
    outdated: bool  # answered for a definition since edited
    reach: list[tuple[str, int, int]]  # (identifier label, usable, of those with ad tracking)
    sample: list[dict]


def segment_size_state(*, segment: Segment) -> SizeState:
    calculating = segment.size_requested_at is not None and (
        segment.size_computed_at is None or segment.size_computed_at < segment.size_requested_at)
    reach = [(IDENTIFIER_LABELS[field], segment.reach[field]["usable"],
              segment.reach[field]["ad_tracking"]) for field in FIELDS if field in segment.reach]
    return SizeState(size=segment.size, computed_at=segment.size_computed_at,
                     calculating=calculating,
                     outdated=segment.size_computed_at is not None
                     and segment.size_definition != segment.definition,
                     reach=reach, sample=segment.sample)


@dataclass(frozen=True)
class BuilderChoices:
    """What a workspace offers the segment builder: attributes (name -> type), event names
    seen, canvases."""

    attributes: dict[str, str]
    event_names: list[str]
    canvases: list[tuple[int, str]]


def segment_builder_choices(*, workspace: Workspace) -> BuilderChoices:
    return BuilderChoices(
        attributes=dict(AttributeDefinition.objects.filter(workspace=workspace)
                        .values_list("name", "type")),
        event_names=event_names_seen(workspace=workspace),
        canvases=list(Canvas.objects.filter(workspace=workspace).order_by("name")
                      .values_list("pk", "name")),
    )


def event_names_seen(*, workspace: Workspace) -> list[str]:
    """The event names the workspace's profiles performed (the first EVENT_NAMES_SHOWN).

    A DISTINCT would read every summary row (millions); this walks the (workspace, name)
    index from one name to the next, a lookup per name, on both databases.
    """
    table = EventSummary._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH RECURSIVE names(name) AS (
                SELECT MIN(name) FROM {table} WHERE workspace_id = %s
                UNION ALL
                SELECT (SELECT MIN(s.name) FROM {table} s
                        WHERE s.workspace_id = %s AND s.name > names.name)
                FROM names WHERE names.name IS NOT NULL
            )
            SELECT name FROM names WHERE name IS NOT NULL LIMIT %s""",
                       [workspace.pk, workspace.pk, EVENT_NAMES_SHOWN])
        return [name for (name,) in cursor.fetchall()]
