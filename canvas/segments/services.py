"""Writes for segments: create, edit, delete, and "calculate exact size" (asked, then
computed by a django-q2 task)."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_q.tasks import async_task

from audiencesync.errors import ServiceError
from audiencesync.workspaces.identifiers import FIELDS
from audiencesync.workspaces.models import Workspace
from canvas.services.targeting import segment_use_problem

from .compile import definition_clean, segment_profiles
from .models import Segment

SAMPLE_SIZE = 20
_NAME_MAX_LENGTH = Segment._meta.get_field("name").max_length


def _name_clean(name: str) -> str:
    name = name.strip()
    if not name:
        raise ServiceError("A segment needs a name.", field="name")
    if "\x00" in name:
        raise ServiceError("A segment's name cannot contain a NUL character.", field="name")
    if len(name) > _NAME_MAX_LENGTH:
        raise ServiceError(f"A segment's name is at most {_NAME_MAX_LENGTH} characters.",
                           field="name")
    return name


def _name_taken(name: str) -> ServiceError:
    return ServiceError(f"This workspace already has a segment named {name!r}.", field="name",
                        code="conflict")


def segment_create(*, workspace: Workspace, name: str, definition: object, user=None) -> Segment:
    """A new segment; ServiceError (a SegmentDefinitionError for the definition) says what
    is wrong and where."""
    name = _name_clean(name)
    cleaned = definition_clean(workspace=workspace, definition=definition)
    try:
        with transaction.atomic():
            return Segment.objects.create(workspace=workspace, name=name, definition=cleaned,
                                          created_by=user)
    except IntegrityError:
        raise _name_taken(name) from None


def segment_update(*, segment: Segment, name: str, definition: object) -> Segment:
    """Rename and redefine; a size computed before stays, marked as of the old definition."""
    segment.name = _name_clean(name)
    segment.definition = definition_clean(workspace=segment.workspace, definition=definition)
    try:
        with transaction.atomic():
            segment.save(update_fields=["name", "definition", "updated_at"])
    except IntegrityError:
        raise _name_taken(segment.name) from None
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment no canvas targets; ServiceError ``conflict`` naming the canvases
    that do (the model's PROTECT refuses it as well)."""
    problem = segment_use_problem(segment=segment)
    if problem:
        raise ServiceError(problem, code="conflict")
    segment.delete()


def segment_size_request(*, segment: Segment) -> None:
    """Ask for the exact size; a django-q2 task computes it once this commits."""
    now = timezone.now()
    Segment.objects.filter(pk=segment.pk).update(size_requested_at=now)
    segment.size_requested_at = now
    transaction.on_commit(lambda: async_task(
        "canvas.tasks.segment_size_calculate", segment.pk,
        task_name=f"calculate the size of segment {segment.pk}"))


def segment_size_calculate(*, segment_id: int, now: datetime | None = None) -> Segment | None:
    """Count the segment, its reach per identifier and a sample, and store them with the
    time and the definition they are for. Four queries whatever the segment's size: the
    segment, one count of everything, the sample, the write. None if it was deleted."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return None
    now = now or timezone.now()
    profiles = segment_profiles(segment=segment, now=now)
    counts = {"size": Count("pk")}
    for field in FIELDS:
        usable = Q(**{f"{field}_reason": ""})
        counts[f"{field}_usable"] = Count("pk", filter=usable)
        counts[f"{field}_ad_tracking"] = Count("pk", filter=usable & Q(ad_tracking_enabled=True))
    counted = profiles.aggregate(**counts)
    sample = [{"id": pk, "external_id": external_id} for pk, external_id in
              profiles.order_by("pk").values_list("pk", "external_id")[:SAMPLE_SIZE]]
    segment.size = counted["size"]
    segment.reach = {field: {"usable": counted[f"{field}_usable"],
                             "ad_tracking": counted[f"{field}_ad_tracking"]} for field in FIELDS}
    segment.sample = sample
    segment.size_computed_at = now
    segment.size_definition = segment.definition
    # Only the size fields: an edit saved meanwhile keeps its name and definition.
    segment.save(update_fields=["size", "reach", "sample", "size_computed_at",
                                "size_definition"])
    return segment
