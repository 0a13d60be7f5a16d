from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from audiencesync.workspaces.models import ApiKey, Profile, Workspace
from partners import registry
from partners.models import AdAccount, Audience


class CanvasStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"


class EntryMode(models.TextChoices):
    API = "api", "API-triggered"
    SCHEDULED = "scheduled", "Scheduled"


class ScheduleKind(models.TextChoices):
    AT_LAUNCH = "at_launch", "At launch"
    ONCE = "once", "Once, at a date and time"
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"
    MONTHLY = "monthly", "Every month"


class Reentry(models.TextChoices):
    NEVER = "never", "Never: a user enters once"
    AFTER_EXIT = "after_exit", "Once the user has left the canvas"
    AFTER_WAIT = "after_wait", "A while after the user's last entry"


class ReentryUnit(models.TextChoices):
    HOURS = "hours", "hours"
    DAYS = "days", "days"


class Canvas(models.Model):
    """A journey: an ordered list of steps every entered profile walks through."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="canvases")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=CanvasStatus.choices,
                              default=CanvasStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Entry settings (see canvas.services.entry_settings). Wall times are in the workspace's
    # time zone, read when each occurrence is computed.
    entry_mode = models.CharField(max_length=10, choices=EntryMode.choices,
                                  default=EntryMode.API)
    schedule_kind = models.CharField(max_length=10, choices=ScheduleKind.choices,
                                     default=ScheduleKind.AT_LAUNCH)
    schedule_date = models.DateField("Date", null=True, blank=True)
    schedule_time = models.TimeField("Time", null=True, blank=True)
    schedule_weekdays = models.JSONField("Days of the week", default=list, blank=True)
    schedule_monthday = models.PositiveSmallIntegerField(
        "Day of the month", null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)])
    schedule_end_date = models.DateField("Last day", null=True, blank=True)
    reentry = models.CharField(max_length=12, choices=Reentry.choices,
                               default=Reentry.AFTER_EXIT)
    reentry_wait_value = models.PositiveIntegerField(null=True, blank=True)
    reentry_wait_unit = models.CharField(max_length=10, choices=ReentryUnit.choices,
                                         blank=True, default="")
    cap_per_run = models.PositiveIntegerField("Most entries per scheduled run", null=True,
                                              blank=True)
    cap_per_day = models.PositiveIntegerField("Most entries per day", null=True, blank=True)
    cap_total = models.PositiveIntegerField("Most entries in total", null=True, blank=True)
    # The target audience: a segment (PROTECT: one in use cannot be deleted) and extra
    # filters of the same kinds, a definition as canvas.segments.compile describes it.
    target_segment = models.ForeignKey("canvas.Segment", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="canvases")
    target_filters = models.JSONField(default=dict, blank=True)
    # Archived: hidden from the canvas list (its own filter shows it), kept with its analytics.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "canvases"
        constraints = [
            models.CheckConstraint(
                condition=Q(schedule_monthday__isnull=True)
                | Q(schedule_monthday__gte=1, schedule_monthday__lte=31),
                name="canvas_monthday_1_to_31"),
        ]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    """Names of the built-in step kinds; what each does is its entry in canvas.steps."""

    AUDIENCE_SYNC = "audience_sync", "Audience Sync"
    DELAY = "delay", "Delay"


class SyncAction(models.TextChoices):
    ADD = "add", "Add users to audience"
    REMOVE = "remove", "Remove users from audience"


class DelayUnit(models.TextChoices):
    SECONDS = "seconds", "seconds"
    MINUTES = "minutes", "minutes"
    HOURS = "hours", "hours"
    DAYS = "days", "days"


# The longest a Delay waits (the README says so). Every way in (editor, service, admin, the
# database) refuses more, so an entry's resume time is always a date the database can hold.
MAX_DELAY = timedelta(days=365)
MAX_DELAY_TEXT = "365 days"


def step_kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every kind in the table of step kinds, so a new kind needs no migration."""
    from canvas.steps import all_step_types  # the table imports these models

    return [(step_type.kind, step_type.label) for step_type in all_step_types()]


def delay_max_value(unit: str) -> int:
    """The largest ``delay_value`` in ``unit`` that stays within MAX_DELAY."""
    return MAX_DELAY // timedelta(**{unit or DelayUnit.SECONDS: 1})


def _delay_within_max() -> Q:
    within = Q(delay_value__isnull=True)
    for unit in DelayUnit.values:
        units = [unit, ""] if unit == DelayUnit.SECONDS else [unit]
        within |= Q(delay_unit__in=units, delay_value__lte=delay_max_value(unit))
    return within


class Step(models.Model):
    """One component of a canvas. Audience Sync fields are empty on a Delay and vice versa."""

    canvas = models.ForeignKey(Canvas, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=step_kind_choices)
    # Audience Sync
    partner = models.CharField(max_length=20, choices=registry.choices, blank=True, default="")
    ad_account = models.ForeignKey(AdAccount, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="steps")
    audience = models.ForeignKey(Audience, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="steps")
    action = models.CharField(max_length=10, choices=SyncAction.choices, default=SyncAction.ADD)
    match_fields = models.JSONField(default=list, blank=True)
    respect_ad_tracking = models.BooleanField(
        "Respect ad-tracking consent", default=True,
        help_text="Users without ad-tracking consent are not synced.",
    )
    # Delay
    delay_value = models.PositiveIntegerField(
        null=True, blank=True,
        validators=[MaxValueValidator(delay_max_value(DelayUnit.SECONDS),
                                      f"A delay waits at most {MAX_DELAY_TEXT}.")],
    )
    delay_unit = models.CharField(max_length=10, choices=DelayUnit.choices, blank=True,
                                  default="")

    class Meta:
        ordering = ["canvas", "position"]
        constraints = [
            models.UniqueConstraint(fields=["canvas", "position"], name="step_unique_position",
                                    deferrable=models.Deferrable.DEFERRED),
            models.CheckConstraint(
                condition=_delay_within_max(), name="step_delay_at_most_365_days",
                violation_error_message=f"A delay waits at most {MAX_DELAY_TEXT}.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.canvas} · {self.position + 1}. {self.get_kind_display()}"

    @property
    def delay(self) -> timedelta:
        return timedelta(**{self.delay_unit or "seconds": self.delay_value or 0})

    @property
    def delay_text(self) -> str:
        """The wait in words, singular for one: "1 hour", "3 days"."""
        unit = self.delay_unit or DelayUnit.SECONDS
        value = self.delay_value or 0
        return f"{value} {unit[:-1] if value == 1 else unit}"


class CanvasEntry(models.Model):
    """A profile's walk through a canvas: where it is, since when, and when it left."""

    canvas = models.ForeignKey(Canvas, on_delete=models.CASCADE, related_name="entries")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="canvas_entries")
    current_step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # When the Delay it waits in is over (null when it waits for nothing).
    resume_at = models.DateTimeField(null=True, blank=True)
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "canvas entries"
        constraints = [
            # A profile is in a canvas at most once at a time; it may enter again after exiting.
            models.UniqueConstraint(fields=["canvas", "profile"], condition=Q(exited_at__isnull=True),
                                    name="entry_unique_while_in_canvas"),
        ]
        indexes = [
            models.Index(fields=["resume_at"], condition=Q(exited_at__isnull=True),
                         name="entry_resume_idx"),
            # The canvas list's "entered today" and "entered in total", read from the index.
            models.Index(fields=["canvas", "entered_at"], name="entry_canvas_entered_idx"),
        ]


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


class ScheduledRun(models.Model):
    """One occurrence of a scheduled canvas's entry, entering its target audience.

    Unique per canvas and occurrence: of two clusters that find the same occurrence due,
    one inserts this row and runs it, the other finds it there. Chunks of profiles are
    entered in id order, each in one transaction with ``last_profile_id`` and the counters,
    so a run whose worker died is picked up where it stopped, entering nobody twice.
    """

    canvas = models.ForeignKey(Canvas, on_delete=models.CASCADE, related_name="runs")
    occurrence = models.DateTimeField()
    state = models.CharField(max_length=10, choices=RunState.choices,
                             default=RunState.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker running it has it until then; past it, the run is taken for dead and resumed.
    lease_until = models.DateTimeField()
    last_profile_id = models.BigIntegerField(default=0)
    eligible = models.PositiveIntegerField(default=0)
    entered = models.PositiveIntegerField(default=0)
    already_in_canvas = models.PositiveIntegerField(default=0)
    reentry_blocked = models.PositiveIntegerField(default=0)
    capped_run = models.PositiveIntegerField(default=0)
    capped_day = models.PositiveIntegerField(default=0)
    capped_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-occurrence"]
        constraints = [
            models.UniqueConstraint(fields=["canvas", "occurrence"], name="run_unique_occurrence"),
        ]

    @property
    def skipped(self) -> int:
        return (self.already_in_canvas + self.reentry_blocked + self.capped_run
                + self.capped_day + self.capped_total)


class ItemState(models.TextChoices):
    PENDING = "pending", "Pending"
    SYNCED = "synced", "Synced"
    NOT_SYNCED = "not_synced", "Not synced"
    ERRORED = "errored", "Errored"


class ItemPurpose(models.TextChoices):
    JOURNEY = "journey", "Journey"
    # A remove queued when a profile is erased; not a journey event, so not in step stats.
    ERASURE = "erasure", "Erasure"
    # A remove queued when a profile's ad-tracking consent turns off (REMOVE_ON_CONSENT_
    # WITHDRAWN); not a journey event either: analytics shows it on a line per audience.
    CONSENT = "consent", "Consent withdrawn"


class SyncItemQuerySet(models.QuerySet):
    def in_batch(self, batch: SyncBatch) -> SyncItemQuerySet:
        """The items a batch covers: its step's items in its id range (see SyncBatch)."""
        return self.filter(step_id=batch.step_id,
                           id__range=(batch.first_item_id, batch.last_item_id))


class SyncItem(models.Model):
    """The outbox: one row per profile reaching a sync step, written once at entry.

    Identifiers are normalised and hashed at entry (``hashes``: match field -> SHA-256), so
    nothing but hashes is ever read for sending. Batches claim id ranges of a step; an item
    is written again only when it is resolved (synced / errored).
    """

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="items")
    profile = models.ForeignKey(Profile, null=True, on_delete=models.SET_NULL,
                                related_name="sync_items")
    # Copied from the step: "latest intent wins" is per (audience, profile).
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="items")
    action = models.CharField(max_length=10, choices=SyncAction.choices)
    purpose = models.CharField(max_length=10, choices=ItemPurpose.choices,
                               default=ItemPurpose.JOURNEY)
    hashes = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=ItemState.choices, default=ItemState.PENDING)
    # Why it was not synced or errored: reason codes per field, or the partner's message.
    reason = models.TextField(blank=True, default="")
    batch = models.ForeignKey("SyncBatch", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = SyncItemQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["step", "state", "id"], name="item_step_state_idx"),
            models.Index(fields=["audience", "profile"], name="item_audience_profile_idx"),
            models.Index(fields=["created_at"], name="item_created_idx"),
        ]


class AudienceMembership(models.Model):
    """A person the product put in a partner audience, with the hashes it sent there.

    Written when the partner accepts an add (one row per add step and set of hashes: after
    an email change the person may sit in the audience under two), deleted when it accepts
    a remove of the person from the audience. Unlike sync items it is never purged, so
    removes, erasure and consent withdrawal send exactly what was added, however long ago
    and whatever the profile holds today.
    """

    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="memberships")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="memberships")
    # The add step that put the person there (so also its canvas).
    step = models.ForeignKey(Step, null=True, on_delete=models.SET_NULL, related_name="+")
    hashes = models.JSONField()
    hashes_digest = models.CharField(max_length=64)
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["audience", "profile", "step", "hashes_digest"],
                                    name="membership_unique_add"),
        ]


class SyncCursor(models.Model):
    """Per sync step: the last item id handed to a batch.

    Inserting a step's items and claiming a range both lock this row, so item ids are
    committed in the order claims see them and no item is ever skipped.
    """

    step = models.OneToOneField(Step, on_delete=models.CASCADE, primary_key=True,
                                related_name="cursor")
    last_item_id = models.BigIntegerField(default=0)
    last_claim_at = models.DateTimeField(null=True, blank=True)


class BatchState(models.TextChoices):
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to retry"
    WAITING_RECONNECT = "waiting_reconnect", "Waiting for reconnect"
    DONE = "done", "Done"


# An item as the batch shape reads it: (id, action, purpose, anything else...).
ItemRow = tuple


class SyncBatchQuerySet(models.QuerySet):
    def covering(self, items: Sequence[SyncItem]) -> SyncBatchQuerySet:
        """Batches whose range holds any of ``items``."""
        return self.filter(reduce(or_, [Q(step_id=item.step_id, first_item_id__lte=item.pk,
                                          last_item_id__gte=item.pk) for item in items]))


class SyncBatch(models.Model):
    """A range of one step's items sent together, retried together, resolved together.

    The batch shape, here and nowhere else: a batch is one action and one purpose over a
    range of one step's item ids. ``cut`` ends ranges where the action or purpose changes,
    ``over`` makes a batch of one such range, ``covers`` and ``SyncItem.objects.in_batch``
    say which items it holds.
    """

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="batches")
    # Every item of a batch shares its step, action and purpose.
    action = models.CharField(max_length=10, choices=SyncAction.choices)
    purpose = models.CharField(max_length=10, choices=ItemPurpose.choices,
                               default=ItemPurpose.JOURNEY)
    first_item_id = models.BigIntegerField()
    last_item_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=BatchState.choices,
                             default=BatchState.SENDING)
    attempts = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)
    # The batch lease: the worker sending it has it until then (SYNC_BATCH_LEASE_SECONDS);
    # past it, the worker is taken for dead and the batch is claimed and sent again.
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    objects = SyncBatchQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "sync batches"
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="batch_due_idx",
                         condition=~Q(state="done")),
        ]

    @staticmethod
    def cut(rows: Sequence[ItemRow], *, breaks: Iterable[int] = ()) -> list[list[ItemRow]]:
        """Split id-ordered item rows into ranges that can each be one batch: a range ends
        where the action or purpose changes, or where a ``breaks`` id lies between two rows
        (an item of the step a batch must not take)."""
        runs: list[list[ItemRow]] = []
        ordered_breaks = sorted(breaks)
        position = 0
        for row in rows:
            passed_break = False
            while position < len(ordered_breaks) and ordered_breaks[position] < row[0]:
                passed_break = True
                position += 1
            if runs and not passed_break and runs[-1][-1][1:3] == row[1:3]:
                runs[-1].append(row)
            else:
                runs.append([row])
        return runs

    @classmethod
    def over(cls, run: Sequence[ItemRow], **fields) -> SyncBatch:
        """An unsaved batch of one range that ``cut`` made (or part of one); ``fields``
        name its step and state."""
        first_id, action, purpose = run[0][:3]
        return cls(action=action, purpose=purpose, first_item_id=first_id,
                   last_item_id=run[-1][0], size=len(run), **fields)

    def covers(self, item: SyncItem) -> bool:
        return (item.step_id == self.step_id
                and self.first_item_id <= item.pk <= self.last_item_id)


class RequestOutcome(models.TextChoices):
    """What the partner's answer to one call was (the engine maps its errors to these)."""

    ACCEPTED = "accepted", "Accepted"
    RATE_LIMITED = "rate_limited", "Rate limited"
    INVALID_TOKEN = "invalid_token", "Invalid token"
    AUDIENCE_GONE = "audience_gone", "Audience gone"
    TOO_LARGE = "too_large", "Batch too large"
    TRANSIENT = "transient", "Transient error"
    REFUSED = "refused", "Refused"


class SyncRequest(models.Model):
    """The sync log: one row per partner call made for a batch. Never holds a secret."""

    batch = models.ForeignKey(SyncBatch, null=True, on_delete=models.SET_NULL,
                              related_name="requests")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="requests")
    size = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=RequestOutcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    partner_request_id = models.CharField(max_length=128, blank=True, default="")
    duration_ms = models.PositiveIntegerField()
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["step", "-created_at"], name="request_step_idx"),
                   models.Index(fields=["created_at"], name="request_created_idx")]


class StepStats(models.Model):
    """Counters per step per UTC minute. Pending is a level: entered minus the outcomes."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="stats")
    bucket = models.DateTimeField()
    entered = models.PositiveIntegerField(default=0)
    proceeded = models.PositiveIntegerField(default=0)
    synced = models.PositiveIntegerField(default=0)
    not_synced = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "step stats"
        constraints = [
            models.UniqueConstraint(fields=["step", "bucket"], name="stats_unique_bucket")
        ]


class IdempotentResponse(models.Model):
    """The first answer to an entries call with an Idempotency-Key, replayed on repeats."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key")
        ]


# Segments live in their own package; Django finds an app's models through this module.
from canvas.segments.models import Segment  # noqa: E402,F401
