"""The sync engine: claim a batch of one step's pending users, send it, record the outcome.

Per-user rows (canvas.SyncItem) are written at entry and once more when resolved; a
batch (its shape: canvas.SyncBatch) claims an id range of one step under the step's cursor
lock, and everything in between (the batch lease, attempts, backoff, the partner's answers)
lives on the batch row. Every function here does a constant number of queries per batch,
whatever its size.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from audiencesync.errors import ServiceError
from canvas.models import (
    BatchState,
    ItemPurpose,
    ItemState,
    RequestOutcome,
    Step,
    SyncAction,
    SyncBatch,
    SyncCursor,
    SyncItem,
    SyncRequest,
)
from canvas.services.actions import exit_segments_due
from canvas.services.audience_alerts import audiences_gone
from canvas.services.entry import entries_release_due
from canvas.services.exits import exits_due
from canvas.services.memberships import (
    hash_sets,
    memberships_record_added,
    memberships_record_removed,
)
from canvas.services.stats import step_stats_add
from partners import http as partner_http
from partners import ratelimit, registry
from partners.base import (
    AudienceGone,
    AudienceRef,
    BatchTooLarge,
    InvalidToken,
    PartnerError,
    RateLimited,
    SendResult,
)
from partners.models import AudienceStatus, ConnectionStatus
from partners.services import connection_call

# Not an error: the batch holds back while an earlier intent for the same users is unsent.
WAITING_FOR_EARLIER_INTENT = "Waiting for an earlier add/remove of the same users."

logger = logging.getLogger(__name__)

WAITING_FOR_RECONNECT = "Waiting for reconnect: the partner token is invalid."
CREATED_WITH_FIRST_USERS = (AudienceStatus.AWAITING_FIRST_USERS, AudienceStatus.CREATING)
# The sync log's outcome of a failed call, by error (any other: transient or refused).
FAILED_OUTCOMES = {
    RateLimited: RequestOutcome.RATE_LIMITED,
    InvalidToken: RequestOutcome.INVALID_TOKEN,
    AudienceGone: RequestOutcome.AUDIENCE_GONE,
    BatchTooLarge: RequestOutcome.TOO_LARGE,
}


class BatchResult(models.TextChoices):
    """What one send did with its batch."""

    SYNCED = "synced", "Synced"
    RETRY = "retry", "Retry later"
    WAITING = "waiting", "Waiting"  # for an earlier intent, a rate slot or a reconnect
    ERRORED = "errored", "Errored"
    SPLIT = "split", "Split in two"
    EMPTY = "empty", "Empty"  # its users were resolved meanwhile


@dataclass(frozen=True)
class Outcome:
    batch_id: int
    step_id: int
    size: int
    result: BatchResult


def _step_rate_key(step: Step) -> str:
    partner = registry.get(step.partner)
    return partner.rate_key(step.ad_account.connection_id)


def _step_queryset():
    return Step.objects.select_related("ad_account__connection", "audience", "canvas")


# --- claiming ------------------------------------------------------------------------------


def _batch_lease_lapsed(now: datetime) -> Q:
    """Batches whose sender took longer than its batch lease: taken for lost, sent again."""
    return Q(state=BatchState.SENDING, lease_until__lt=now)


def _due_batches(now: datetime):
    reconnected = Q(state=BatchState.WAITING_RECONNECT,
                    step__ad_account__connection__status=ConnectionStatus.ACTIVE)
    return SyncBatch.objects.filter(
        Q(state=BatchState.RETRYING, next_attempt_at__lte=now)
        | _batch_lease_lapsed(now)
        | reconnected
    )


def steps_with_work(*, now: datetime | None = None) -> list[int]:
    """Sync steps with users to send now, least recently served first."""
    now = now or timezone.now()
    fresh = SyncItem.objects.filter(step_id=OuterRef("step_id"), state=ItemState.PENDING,
                                    id__gt=OuterRef("last_item_id"))
    new_work = (SyncCursor.objects.filter(Exists(fresh))
                .order_by(F("last_claim_at").asc(nulls_first=True))
                .values_list("step_id", flat=True))
    retries = set(_due_batches(now).values_list("step_id", flat=True).distinct())
    ordered = list(new_work)
    return ordered + [step_id for step_id in retries if step_id not in ordered]


def batch_claim(*, step: Step, now: datetime | None = None) -> SyncBatch | None:
    """A due retry of the step, else its next range of pending users; None if nothing."""
    now = now or timezone.now()
    lease_until = now + timedelta(seconds=settings.SYNC_BATCH_LEASE_SECONDS)
    with transaction.atomic():
        retry = (_due_batches(now).filter(step=step).order_by("first_item_id")
                 .select_for_update(skip_locked=True, of=("self",)).first())
        if retry is not None:
            SyncBatch.objects.filter(pk=retry.pk).update(state=BatchState.SENDING,
                                                         lease_until=lease_until)
            retry.state, retry.lease_until = BatchState.SENDING, lease_until
            return retry
        if _first_batch_in_flight(step):
            return None
        cursor = (SyncCursor.objects.select_for_update(skip_locked=True)
                  .filter(step=step).first())
        if cursor is None:
            return None
        rows = list(SyncItem.objects.filter(step=step, state=ItemState.PENDING,
                                            id__gt=cursor.last_item_id)
                    .order_by("id").values_list("id", "action", "purpose")
                    [: registry.get(step.partner).max_batch])
        if not rows:
            return None
        batch = SyncBatch.over(SyncBatch.cut(rows)[0], step=step, state=BatchState.SENDING,
                               lease_until=lease_until, first_attempt_at=now, created_at=now)
        batch.save()
        SyncCursor.objects.filter(pk=cursor.pk).update(last_item_id=batch.last_item_id,
                                                       last_claim_at=now)
        return batch


def _first_batch_in_flight(step: Step) -> bool:
    """An audience created with its first users takes one batch at a time until it exists."""
    audience = step.audience
    if audience is None or audience.status not in CREATED_WITH_FIRST_USERS:
        return False
    return SyncBatch.objects.filter(
        step__audience=audience, state__in=[BatchState.SENDING, BatchState.RETRYING]
    ).exists()


# --- sending -------------------------------------------------------------------------------


def _first_waiting_item(step: Step, batch: SyncBatch) -> int | None:
    """Latest intent wins: the first item of the batch (by id) whose user has an earlier
    opposite action on the same audience still unresolved, which it must wait for; None
    when no item waits.

    Only the opposite action can change the outcome. Comparing item ids per (audience,
    profile) means the earliest intent never waits; and as the items before the first
    waiting one are sent without it (``_split_at``), two batches that each hold an
    intent the other waits for (an add step's batch and its companion's, after a user
    entered, left and entered again before either was sent) never wait for each other.
    """
    # Erasure and consent removes ride on an add step: a journey add of that same step
    # must wait for them too.
    others = (Exists(Step.objects.filter(audience_id=step.audience_id).exclude(pk=step.pk))
              | Exists(SyncItem.objects.filter(step=step, state=ItemState.PENDING)
                       .exclude(purpose=ItemPurpose.JOURNEY)))
    if batch.purpose == ItemPurpose.JOURNEY and not (
        Step.objects.filter(pk=step.pk).filter(others).exists()
    ):
        return None
    earlier = SyncItem.objects.filter(
        audience_id=OuterRef("audience_id"), profile_id=OuterRef("profile_id"),
        id__lt=OuterRef("id"), state=ItemState.PENDING,
    ).exclude(action=batch.action)
    return (SyncItem.objects.in_batch(batch).filter(state=ItemState.PENDING)
            .filter(Exists(earlier)).order_by("id").values_list("id", flat=True).first())


def batch_send(*, batch: SyncBatch, step: Step | None = None) -> Outcome:
    if step is None or step.pk != batch.step_id:
        step = _step_queryset().get(pk=batch.step_id)
    members = list(SyncItem.objects.in_batch(batch).filter(state=ItemState.PENDING)
                   .order_by("id").values_list("id", "profile_id", "hashes"))
    if not members:
        _finish(batch, step, state=ItemState.SYNCED, error="", request=None, count_only=True)
        return Outcome(batch.pk, step.pk, 0, BatchResult.EMPTY)
    waiting = _first_waiting_item(step, batch)
    if waiting is not None:
        sendable = [m for m in members if m[0] < waiting]
        if not sendable:
            _reschedule(batch, delay=1.0, error=WAITING_FOR_EARLIER_INTENT, use_attempt=False)
            return Outcome(batch.pk, step.pk, len(members), BatchResult.WAITING)
        _split_at(batch, waiting)
        members = sendable
    members = [(profile_id, hashes) for _, profile_id, hashes in members]
    # A remove sends every set of hashes its person was added under (taken at its entry).
    rows = [one for _, hashes in members for one in hash_sets(hashes)]
    audience = step.audience
    pending = _audience_creation_begin(audience)
    # The sync log's duration is the partner's time: waits for a rate slot are left out.
    with partner_http.timed_calls() as call_time:
        try:
            result: SendResult = connection_call(
                connection=step.ad_account.connection,
                call=lambda partner, creds: partner.send_users(
                    credentials=creds,
                    audience=AudienceRef(ad_account_id=step.ad_account.external_id,
                                         audience_id=audience.external_id,
                                         name=audience.name, pending=pending),
                    action=batch.action, match_fields=_fields_sent(step, batch, rows),
                    rows=rows),
            )
        except ServiceError as error:  # not connected: no call was made
            _park_for_reconnect(batch, step, error.message)
            return Outcome(batch.pk, step.pk, len(members), BatchResult.WAITING)
        except ratelimit.Unavailable as error:  # no rate slot: no call was made
            _reschedule(batch, delay=1.0, error=error.message, use_attempt=False)
            raise  # the sender loop rides out the outage
        except ratelimit.ScopePaused as error:  # budget spent: wait for it, no call was made
            _reschedule(batch, delay=error.retry_after, error=error.message, use_attempt=False)
            return Outcome(batch.pk, step.pk, len(members), BatchResult.WAITING)
        except PartnerError as error:
            return _failed(batch, step, len(members), error, call_time.ms)
    request = SyncRequest(batch=batch, step=step, size=len(members),
                          outcome=RequestOutcome.ACCEPTED, partner_request_id=result.request_id[:128],
                          duration_ms=call_time.ms, created_at=timezone.now())
    with transaction.atomic():
        if result.created_audience_id:
            type(audience).objects.filter(pk=audience.pk).update(
                external_id=result.created_audience_id, status=AudienceStatus.ACTIVE)
        _finish(batch, step, state=ItemState.SYNCED, error="", request=request, members=members)
    return Outcome(batch.pk, step.pk, len(members), BatchResult.SYNCED)


def _fields_sent(step: Step, batch: SyncBatch, rows: list[dict[str, str]]) -> list[str]:
    """An add matches on the step's fields; a remove on the fields its hashes were added
    under (the step's order first), which may not be the remove step's own."""
    if batch.action == SyncAction.ADD:
        return step.match_fields
    present = {name for row in rows for name in row}
    partner_order = list(registry.get(step.partner).match_field_types)
    return ([f for f in step.match_fields if f in present]
            + sorted(present - set(step.match_fields),
                     key=lambda f: partner_order.index(f) if f in partner_order else 99))


def _audience_creation_begin(audience) -> bool:
    """Before a send that may create the audience at the partner (its first users), record
    that a creation started; True when an earlier one may have made it already (its
    answer lost with a dropped connection, or an error carrying the list's id), so the
    partner looks for that before making another."""
    if audience.status == AudienceStatus.AWAITING_FIRST_USERS:
        type(audience).objects.filter(
            pk=audience.pk, status=AudienceStatus.AWAITING_FIRST_USERS
        ).update(status=AudienceStatus.CREATING)
        return bool(audience.external_id)
    return audience.status == AudienceStatus.CREATING


def _failed(batch: SyncBatch, step: Step, size: int, error: PartnerError,
            duration_ms: int) -> Outcome:
    if error.created_audience_id:  # made in part before the failure: the retry completes it
        type(step.audience).objects.filter(pk=step.audience_id).update(
            external_id=error.created_audience_id)
    outcome = FAILED_OUTCOMES.get(
        type(error), RequestOutcome.TRANSIENT if error.retryable else RequestOutcome.REFUSED)
    request = SyncRequest(batch=batch, step=step, size=size, outcome=outcome,
                          http_status=error.http_status, partner_request_id=error.request_id[:128],
                          duration_ms=duration_ms, error=error.message, created_at=timezone.now())
    if isinstance(error, RateLimited):
        ratelimit.penalize(_step_rate_key(step), seconds=error.retry_after or 1.0)
        request.save()
        _reschedule(batch, delay=error.retry_after or 1.0, error=error.message, use_attempt=False,
                    rate_limited=True)
        return Outcome(batch.pk, step.pk, size, BatchResult.RETRY)
    if isinstance(error, InvalidToken):
        request.save()
        _park_for_reconnect(batch, step, f"{WAITING_FOR_RECONNECT} {error.message}")
        return Outcome(batch.pk, step.pk, size, BatchResult.WAITING)
    if isinstance(error, BatchTooLarge):
        request.save()
        _split(batch)
        return Outcome(batch.pk, step.pk, size, BatchResult.SPLIT)
    if error.retryable:
        request.save()
        delay = min(settings.SYNC_BACKOFF_BASE * 2 ** batch.attempts, settings.SYNC_BACKOFF_MAX)
        _reschedule(batch, delay=delay * random.uniform(0.8, 1.2), error=error.message,
                    use_attempt=True)
        return Outcome(batch.pk, step.pk, size, BatchResult.RETRY)
    with transaction.atomic():
        if isinstance(error, AudienceGone):
            audiences_gone(audience_ids=[step.audience_id])
        _finish(batch, step, state=ItemState.ERRORED, error=error.message, request=request)
    return Outcome(batch.pk, step.pk, size, BatchResult.ERRORED)


def _finish(batch: SyncBatch, step: Step, *, state: str, error: str,
            request: SyncRequest | None, count_only: bool = False,
            members: list[tuple[int | None, dict | list]] | None = None) -> int:
    """Resolve the batch's pending users as ``state``, with counters, in one transaction.

    ``members`` (profile, hashes sent) of a batch the partner accepted move the membership
    records: an add writes them, a remove deletes them, one statement for the batch. Only
    when this call resolved the users: a worker finishing a batch another one already
    resolved (its lease had run out) must not write an older intent over a newer one.
    """
    now = timezone.now()
    with transaction.atomic():
        resolved = SyncItem.objects.in_batch(batch).filter(state=ItemState.PENDING).update(
            state=state, reason=error[:2000], batch=batch, resolved_at=now)
        if resolved and members and state == ItemState.SYNCED:
            if batch.action == SyncAction.ADD:
                memberships_record_added(audience_id=step.audience_id, step_id=step.pk,
                                         members=members, at=now)
            else:
                memberships_record_removed(audience_id=step.audience_id,
                                           profile_ids=[p for p, _ in members])
        SyncBatch.objects.filter(pk=batch.pk).update(
            state=BatchState.DONE, done_at=now, lease_until=None, last_error=error[:2000],
            attempts=F("attempts") + (0 if count_only else 1))
        if batch.purpose == ItemPurpose.JOURNEY:
            counter = "synced" if state == ItemState.SYNCED else "errored"
            step_stats_add(increments={step.pk: {counter: resolved}}, at=now)
        if request is not None:
            request.save()
    return resolved


def _reschedule(batch: SyncBatch, *, delay: float, error: str, use_attempt: bool,
                rate_limited: bool = False) -> None:
    SyncBatch.objects.filter(pk=batch.pk).update(
        state=BatchState.RETRYING, lease_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay), last_error=error[:2000],
        attempts=F("attempts") + int(use_attempt), rate_limited=F("rate_limited") + int(rate_limited),
    )


def _park_for_reconnect(batch: SyncBatch, step: Step, message: str) -> None:
    SyncBatch.objects.filter(pk=batch.pk).update(
        state=BatchState.WAITING_RECONNECT, lease_until=None, last_error=message[:2000])


def _split_at(batch: SyncBatch, item_id: int) -> None:
    """The batch ends before ``item_id``; the items from it on wait as a batch of their own."""
    rows = list(SyncItem.objects.in_batch(batch).filter(state=ItemState.PENDING)
                .order_by("id").values_list("id", "action", "purpose"))
    before = [row for row in rows if row[0] < item_id]
    after = [row for row in rows if row[0] >= item_id]
    now = timezone.now()
    with transaction.atomic():
        SyncBatch.objects.filter(pk=batch.pk).update(last_item_id=item_id - 1, size=len(before))
        SyncBatch.over(after, step_id=batch.step_id, state=BatchState.RETRYING,
                       next_attempt_at=now + timedelta(seconds=1),
                       first_attempt_at=batch.first_attempt_at, created_at=now).save()
    batch.last_item_id, batch.size = item_id - 1, len(before)


def _split(batch: SyncBatch) -> None:
    """The partner refused the size: send the range as two halves."""
    rows = list(SyncItem.objects.in_batch(batch).filter(state=ItemState.PENDING)
                .order_by("id").values_list("id", "action", "purpose"))
    half = len(rows) // 2
    if half == 0:
        return
    now = timezone.now()
    with transaction.atomic():
        SyncBatch.objects.filter(pk=batch.pk).update(
            last_item_id=rows[half - 1][0], size=half, state=BatchState.RETRYING,
            lease_until=None, next_attempt_at=now)
        SyncBatch.over(rows[half:], step_id=batch.step_id, state=BatchState.RETRYING,
                       next_attempt_at=now, first_attempt_at=batch.first_attempt_at,
                       created_at=now).save()


# --- the retry window ----------------------------------------------------------------------


def batches_expire(*, now: datetime | None = None) -> int:
    """Users still unsent when the retry window closes are errored with the last reason."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SYNC_RETRY_WINDOW)
    expired = list(
        SyncBatch.objects.filter(first_attempt_at__lt=cutoff)
        .filter(Q(state__in=[BatchState.RETRYING, BatchState.WAITING_RECONNECT])
                | _batch_lease_lapsed(now))
        .select_related("step")[:100]
    )
    errored = 0
    for batch in expired:
        reason = (f"Not synced after {settings.SYNC_RETRY_WINDOW // 3600} hours of retries. "
                  f"Last error: {batch.last_error or 'none'}")
        errored += _finish(batch, batch.step, state=ItemState.ERRORED, error=reason, request=None,
                           count_only=True)
    return errored


# --- one pass ------------------------------------------------------------------------------


def sync_next(*, skip_saturated: bool = True, max_wait_s: float = 0.0) -> Outcome | None:
    """Claim and send one batch from the least recently served step with work.

    Steps whose rate scope is saturated are passed over, so one busy scope never holds up
    another. When every step with work is saturated, the step whose scope frees first is
    claimed at once if that is within ``max_wait_s``: its batch is ready when the partner
    allows the next request (the client waits for the slot), not a claim later.
    """
    saturated: list[tuple[float, Step]] = []
    for step_id in steps_with_work():
        step = _step_queryset().filter(pk=step_id).first()
        if step is None or step.ad_account is None:
            continue
        if skip_saturated:
            partner = registry.get(step.partner)
            wait = ratelimit.peek_wait(_step_rate_key(step), **partner.rate_limits.kwargs())
            if wait > 0:
                saturated.append((wait, step))
                continue
        batch = batch_claim(step=step)
        if batch is not None:
            return batch_send(batch=batch, step=step)
    for wait, step in sorted(saturated, key=lambda pair: pair[0]):
        if wait > max_wait_s:
            break
        batch = batch_claim(step=step)
        if batch is not None:
            return batch_send(batch=batch, step=step)
    return None


def sync_flush(*, deadline_s: float = 60.0) -> list[Outcome]:
    """Send everything sendable now (one pass), for commands and tests."""
    outcomes = []
    end = time.monotonic() + deadline_s
    entries_release_due()
    exits_due()
    exit_segments_due()
    batches_expire()
    while time.monotonic() < end:
        outcome = sync_next(skip_saturated=False)
        if outcome is None:
            break
        outcomes.append(outcome)
    return outcomes
