"""Operator writes on the outbox: requeue, erasure, retention, and the reconciliation check."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Model, OuterRef, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.workspaces import identifiers
from audiencesync.workspaces.events import events_older_than, profile_events_delete
from audiencesync.workspaces.models import Profile
from canvas.models import (
    AudienceMembership,
    BatchState,
    CanvasEntry,
    IdempotentResponse,
    ItemPurpose,
    ItemState,
    Step,
    SyncBatch,
    SyncCursor,
    SyncItem,
)
from canvas.services.memberships import memberships_remove
from canvas.services.stats import StatsDrift, step_stats_subtract
from partners import registry

from .selectors import (
    step_stats_drift,
    sync_items_requeueable,
    sync_requests_older_than,
)

logger = logging.getLogger(__name__)

REQUEUED = "Requeued by an operator."
PURGE_CHUNK = 5_000
Progress = Callable[[int], None]


def _no_progress(done: int) -> None:
    """Default progress callback: nobody is watching."""


# --- requeue -------------------------------------------------------------------------------


@dataclass
class RequeueResult:
    requeued: int = 0
    batches: int = 0


def sync_items_requeue(*, step: Step, reason_contains: str = "",
                       progress: Progress = _no_progress) -> RequeueResult:
    """Errored users of the step back to pending, in new batches due now.

    They lie behind the step's cursor, so the claim of new ranges never sees them again:
    each chunk gets retry batches of its own (state "retrying", due now, a fresh retry
    window) over runs of consecutive requeued ids. A run ends where a user of the step is
    still pending in another batch, so no batch ever holds someone else's user. In the
    same transaction the errored counter is taken back from the minutes that counted
    them, so entered = synced + not_synced + pending + errored holds throughout.
    """
    if not step.partner:
        raise ServiceError(f"Step {step.pk} is not an Audience Sync step with a partner.")
    chunk_size = registry.get(step.partner).max_batch
    result = RequeueResult()
    after_id = 0
    while True:
        try:
            with transaction.atomic():
                # One requeue of a step at a time (claims of new ranges skip it meanwhile).
                SyncCursor.objects.select_for_update().filter(step=step).first()
                rows = list(sync_items_requeueable(step=step, reason_contains=reason_contains)
                            .filter(id__gt=after_id).order_by("id").select_for_update()
                            .values_list("id", "action", "purpose", "resolved_at")[:chunk_size])
                if not rows:
                    return result
                batches = _requeue_chunk(step=step, rows=rows, reason_contains=reason_contains)
        except StatsDrift as drift:
            raise ServiceError(
                f"Requeue stopped after {result.requeued} user(s): {drift} The reconcile check "
                "(stats_reconcile) shows the drift.") from drift
        result.requeued += len(rows)
        result.batches += batches
        after_id = rows[-1][0]
        progress(len(rows))


def _requeue_chunk(*, step: Step, rows: list[tuple], reason_contains: str) -> int:
    """Move one chunk of locked errored items into new retry batches; returns how many."""
    still_pending = set(SyncItem.objects.filter(step=step, state=ItemState.PENDING,
                                                id__range=(rows[0][0], rows[-1][0]))
                        .values_list("id", flat=True))
    now = timezone.now()
    batches = SyncBatch.objects.bulk_create([
        SyncBatch.over(run, step=step, state=BatchState.RETRYING, next_attempt_at=now,
                       first_attempt_at=now, created_at=now, last_error=REQUEUED)
        for run in SyncBatch.cut(rows, breaks=still_pending)
    ])
    for batch in batches:
        sync_items_requeueable(step=step, reason_contains=reason_contains).in_batch(
            batch).update(state=ItemState.PENDING, reason="", resolved_at=None, batch=batch)
    errored_at = Counter(resolved_at for _, _, purpose, resolved_at in rows
                         if purpose == ItemPurpose.JOURNEY)
    step_stats_subtract(step_id=step.pk, counter="errored", by_bucket=errored_at)
    return len(batches)


# --- erasure -------------------------------------------------------------------------------


@dataclass
class ErasureResult:
    removes_queued: int = 0
    audiences: list[str] = field(default_factory=list)
    canvases_left: int = 0


def erased_external_id(profile: Profile) -> str:
    return f"erased-{profile.pk}"


def profile_erase(*, profile: Profile) -> ErasureResult:
    """Remove the profile from every audience it was added to, then forget its data.

    One transaction: the removes are queued as erasure items carrying the hashes its
    membership records hold, whenever it was added (the engine sends them after any add
    of the same user still pending: latest intent wins), the profile leaves its canvases,
    its fields (and the hashes stored beside them) are blanked and the hashes of its
    resolved journey items dropped. The profile row stays, blank, as a tombstone the
    removes and records point to; its hashes live on only in those until the partner
    accepted the removes. Its custom events, their summaries and daily counts are deleted.
    Erasing again queues nothing new.
    """
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile.pk)
        now = timezone.now()
        targets = memberships_remove(profile_ids=[profile.pk], purpose=ItemPurpose.ERASURE,
                                     now=now)
        SyncItem.objects.filter(profile=profile, purpose=ItemPurpose.JOURNEY).exclude(
            state=ItemState.PENDING).update(hashes={})
        left = CanvasEntry.objects.filter(profile=profile, exited_at__isnull=True).update(
            exited_at=now, current_step=None, resume_at=None)
        Profile.objects.filter(pk=profile.pk).update(
            external_id=erased_external_id(profile), email="", phone="", idfa="", gaid="",
            **identifiers.stored_row(values=dict.fromkeys(identifiers.FIELDS, ""),
                                     default_country=""),
            attributes={}, updated_at=now, erased_at=Coalesce("erased_at", Value(now)))
        profile_events_delete(profile_id=profile.pk)
    logger.info("Profile %s erased: %s remove(s) queued, left %s canvas(es).", profile.pk,
                len(targets), left)
    return ErasureResult(removes_queued=len(targets),
                         audiences=sorted({t.audience_name for t in targets}), canvases_left=left)


# --- retention -----------------------------------------------------------------------------


def _delete_in_chunks(queryset: QuerySet, *, chunk_size: int, progress: Progress) -> int:
    """Delete the queryset's rows a chunk of ids at a time (never loading them all)."""
    model: type[Model] = queryset.model
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return deleted
        with transaction.atomic():
            model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        progress(len(ids))


def sync_requests_purge(*, older_than: datetime, chunk_size: int = PURGE_CHUNK,
                        progress: Progress = _no_progress) -> int:
    """Delete sync log rows created before ``older_than``; returns how many."""
    return _delete_in_chunks(sync_requests_older_than(cutoff=older_than), chunk_size=chunk_size,
                             progress=progress)


@dataclass
class RetentionResult:
    requests: int
    items: int
    batches: int
    idempotent_responses: int = 0
    erased_profiles: int = 0
    events: int = 0


def sync_history_purge(*, now: datetime | None = None,
                       chunk_size: int = PURGE_CHUNK) -> RetentionResult:
    """Forget resolved users, done batches and the sync log past SYNC_ITEM_RETENTION_DAYS.

    The step counters are left alone: they are the history. Pending users and unresolved
    batches are kept, however old. Raw custom events go past EVENT_RETENTION_DAYS; their
    per-profile summaries and daily counts stay.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SYNC_ITEM_RETENTION_DAYS)
    return RetentionResult(
        requests=sync_requests_purge(older_than=cutoff, chunk_size=chunk_size),
        items=_delete_in_chunks(
            SyncItem.objects.filter(resolved_at__lt=cutoff).exclude(state=ItemState.PENDING),
            chunk_size=chunk_size, progress=_no_progress),
        batches=_delete_in_chunks(
            SyncBatch.objects.filter(state=BatchState.DONE, done_at__lt=cutoff),
            chunk_size=chunk_size, progress=_no_progress),
        # A client retrying with the same Idempotency-Key does so within minutes, not weeks.
        idempotent_responses=_delete_in_chunks(
            IdempotentResponse.objects.filter(created_at__lt=cutoff),
            chunk_size=chunk_size, progress=_no_progress),
        # Last: an erased profile's row goes once no sync item (its removes) and no
        # membership record (a remove not accepted yet) points at it.
        erased_profiles=_delete_in_chunks(
            Profile.objects.filter(erased_at__lt=cutoff).exclude(
                Exists(SyncItem.objects.filter(profile=OuterRef("pk")))).exclude(
                Exists(AudienceMembership.objects.filter(profile=OuterRef("pk")))),
            chunk_size=chunk_size, progress=_no_progress),
        events=_delete_in_chunks(
            events_older_than(cutoff=now - timedelta(days=settings.EVENT_RETENTION_DAYS)),
            chunk_size=chunk_size, progress=_no_progress),
    )


# --- reconciliation ------------------------------------------------------------------------


def stats_reconcile() -> dict[int, dict[str, dict[str, int]]]:
    """Compare every sync step's counters with its outbox and log any drift.

    Reports only: a counter is never rewritten behind the operator's back (the drift
    usually points at a bug to fix, and the history at the minute it happened).
    """
    drift = step_stats_drift()
    for step_id, figures in drift.items():
        logger.warning("Step %s counters drifted from the outbox: %s", step_id, ", ".join(
            f"{name} counted {f['counters']}, outbox {f['items']}" for name, f in figures.items()))
    return drift
