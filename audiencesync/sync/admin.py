"""Operators' view of canvases, the outbox, batches, the sync log and counters.

These models belong to ``canvas``, but their admin lives here, at the engine's floor: its
actions (erase a profile) call the engine's services, which canvas and workspaces must not
import. Everything is read-only: counters, items and batches change only through services
that keep entered = synced + not_synced + pending + errored. No row shown here holds a
secret; item hashes (pseudonymous personal data) are left out as well.
"""

from django.contrib import admin
from django.db.models import Count

from audiencesync.confirm import admin_confirmation_page, admin_is_confirmed
from audiencesync.workspaces.admin import ProfileAdmin
from audiencesync.workspaces.models import Profile
from canvas.models import Canvas, Step, StepStats, SyncBatch, SyncItem, SyncRequest
from canvas.steps import all_step_types, step_type

from .selectors import TraceRow, sync_items_trace
from .services import profile_erase


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Every kind's settings, in the table's order (a row leaves other kinds' columns empty).
STEP_FIELDS = list(dict.fromkeys(name for kind in all_step_types() for name in kind.fields))


class StepInline(admin.TabularInline):
    model = Step
    fields = ["position", "kind", *STEP_FIELDS]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Canvas)
class CanvasAdmin(ReadOnlyAdmin):
    list_display = ["name", "workspace", "status", "step_count", "launched_at", "stopped_at",
                    "created_at"]
    list_filter = ["status", "workspace"]
    search_fields = ["name", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace"]
    inlines = [StepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_count=Count("steps"))

    @admin.display(description="steps", ordering="step_count")
    def step_count(self, obj: Canvas) -> int:
        return obj.step_count


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ["id", "canvas", "position", "kind", "partner", "audience", "action",
                    "match_fields"]
    list_filter = ["kind", "partner", "action", "canvas__status"]
    search_fields = ["canvas__name", "audience__name"]
    list_select_related = ["canvas", "audience"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return super().get_fields(request, obj)
        return ["canvas", "position", "kind", *step_type(obj.kind).fields]


@admin.register(StepStats)
class StepStatsAdmin(ReadOnlyAdmin):
    list_display = ["step", "bucket", "entered", "proceeded", "synced", "not_synced", "errored",
                    "exited"]
    list_filter = ["step__canvas"]
    search_fields = ["step__canvas__name"]
    date_hierarchy = "bucket"
    list_select_related = ["step__canvas"]
    show_full_result_count = False


@admin.register(SyncItem)
class SyncItemAdmin(ReadOnlyAdmin):
    # What an operator reads first: where the user stands and why.
    list_display = ["id", "state", "status", "profile_external_id", "step", "audience", "action",
                    "purpose", "attempts", "created_at", "resolved_at"]
    list_filter = ["state", "purpose", ("step__canvas__workspace", admin.RelatedOnlyFieldListFilter),
                   ("step__canvas", admin.RelatedOnlyFieldListFilter), "step"]
    search_fields = ["=profile__external_id"]
    search_help_text = "An external id, exactly as sent."
    date_hierarchy = "created_at"
    list_select_related = ["profile", "step__canvas", "audience", "batch"]
    fields = ["profile", "step", "audience", "action", "purpose", "state", "status", "batch",
              "attempts", "last_error", "partner_request_ids", "created_at", "resolved_at"]
    readonly_fields = fields
    show_full_result_count = False

    def get_changelist_instance(self, request):
        # The page's statuses in a few queries for all its rows, not a few per row: a
        # pending user's status depends on the batch (if any) whose range holds it.
        changelist = super().get_changelist_instance(request)
        _attach_trace(list(changelist.result_list))
        return changelist

    def get_object(self, request, object_id, from_field=None):
        item = super().get_object(request, object_id, from_field)
        if item is not None:
            _attach_trace([item])
        return item

    @admin.display(description="profile", ordering="profile__external_id")
    def profile_external_id(self, obj: SyncItem) -> str:
        return obj.profile.external_id if obj.profile else "—"

    @admin.display(description="status")
    def status(self, obj: SyncItem) -> str:
        return _trace(obj).status

    @admin.display(description="attempts")
    def attempts(self, obj: SyncItem) -> int:
        return _trace(obj).attempts

    @admin.display(description="last error")
    def last_error(self, obj: SyncItem) -> str:
        return _trace(obj).last_error or "—"

    @admin.display(description="partner request ids")
    def partner_request_ids(self, obj: SyncItem) -> str:
        return ", ".join(_trace(obj).request_ids) or "—"


def _attach_trace(items: list[SyncItem]) -> None:
    for item, row in zip(items, sync_items_trace(items=items), strict=True):
        item.trace_row = row


def _trace(item: SyncItem) -> TraceRow:
    row = getattr(item, "trace_row", None)
    if row is None:  # shown outside the list and change pages
        _attach_trace([item])
        row = item.trace_row
    return row


@admin.register(SyncBatch)
class SyncBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "state", "last_error", "step", "action", "purpose", "size", "attempts",
                    "rate_limited", "next_attempt_at", "first_attempt_at", "first_item_id",
                    "last_item_id"]
    list_filter = ["state", "purpose", "action"]
    search_fields = ["=step__id", "last_error"]
    list_select_related = ["step__canvas"]
    show_full_result_count = False


@admin.register(SyncRequest)
class SyncRequestAdmin(ReadOnlyAdmin):
    """The sync log: one row per partner call."""

    list_display = ["outcome", "duration_ms", "created_at", "step", "batch_id", "size",
                    "http_status", "partner_request_id", "error"]
    list_filter = ["outcome", "step__partner", "http_status",
                   ("step__canvas__workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=partner_request_id", "=step__id"]
    date_hierarchy = "created_at"
    list_select_related = ["step__canvas"]
    show_full_result_count = False


admin.site.unregister(Profile)


@admin.register(Profile)
class ErasableProfileAdmin(ProfileAdmin):
    """The workspaces' profile admin, plus erasure (which needs the engine's services)."""

    actions = ["erase"]

    def has_delete_permission(self, request, obj=None):
        return False  # a plain delete would leave the person in partner audiences: erase


    @admin.action(description="Erase selected profiles (deletion request)")
    def erase(self, request, queryset):
        if not admin_is_confirmed(request):
            return admin_confirmation_page(
                self, request, queryset, title="Erase profiles?",
                consequences=[
                    "Erasing cannot be undone. Each profile below is removed from every "
                    "partner audience it was added to (the removals are sent with the next "
                    "batches), and leaves its canvases.",
                    "Its email, phone, advertising ids and attributes are deleted; a blank "
                    "record named erased-<id> stays until the removals are sent.",
                ],
                button="Yes, erase them",
            )
        removes = sum(profile_erase(profile=profile).removes_queued for profile in queryset)
        self.message_user(request, f"{len(queryset)} profile(s) erased; {removes} removal(s) "
                                   "from partner audiences queued.")
        return None
