from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from audiencesync.confirm import admin_confirmation_page, admin_is_confirmed

from .apikeys import api_keys_revoke
from .events import EventVolume, workspaces_event_volume
from .identifier_services import profiles_identifiers_refresh
from .models import ApiKey, Invitation, Membership, Profile, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class WorkspaceChangeList(ChangeList):
    """Gives the page's workspaces their event volume, in one grouped query for the page."""

    def get_results(self, request):
        super().get_results(request)
        volume = workspaces_event_volume(workspace_ids=[w.pk for w in self.result_list])
        for workspace in self.result_list:
            workspace.event_volume = volume.get(workspace.pk, EventVolume())


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "default_country", "member_count", "events_kept",
                    "events_24h", "event_names", "event_summaries", "created_by", "created_at"]
    list_filter = ["default_country", "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]
    list_select_related = ["created_by"]

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Workspace) -> int:
        return obj.member_count

    def get_queryset(self, request):
        # Counted in the page's query: the list's queries do not grow with its rows.
        # A subquery, not a join: a search through the members must not multiply the count.
        members = (Membership.objects.filter(workspace=OuterRef("pk")).order_by()
                   .values("workspace").annotate(n=Count("*")).values("n"))
        return super().get_queryset(request).annotate(
            member_count=Coalesce(Subquery(members), 0))

    def get_changelist(self, request, **kwargs):
        return WorkspaceChangeList

    @admin.display(description="events kept")
    def events_kept(self, obj: Workspace) -> int:
        return obj.event_volume.events

    @admin.display(description="events, last 24 h")
    def events_24h(self, obj: Workspace) -> int:
        return obj.event_volume.events_24h

    @admin.display(description="event names")
    def event_names(self, obj: Workspace) -> int:
        return obj.event_volume.event_names

    @admin.display(description="event summaries")
    def event_summaries(self, obj: Workspace) -> int:
        return obj.event_volume.summaries


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__email", "workspace__name", "workspace__slug"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "invited_by", "created_at", "expires_at",
                    "accepted_at", "revoked_at"]
    list_filter = ["role", ("accepted_at", admin.EmptyFieldListFilter),
                   ("revoked_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["accepted_at", "accepted_by", "revoked_at"]
    search_fields = ["email", "workspace__name"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = [
        "external_id", "workspace", "email", "phone", "has_idfa", "has_gaid",
        "ad_tracking_enabled", "updated_at", "erased_at",
    ]
    list_filter = ["workspace", "ad_tracking_enabled", "created_at",
                   ("erased_at", admin.EmptyFieldListFilter)]
    search_fields = ["external_id", "email", "phone"]
    list_select_related = ["workspace"]
    readonly_fields = ["created_at", "updated_at", "erased_at"]
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        profiles_identifiers_refresh(profile_ids=[obj.pk])

    @admin.display(boolean=True, description="IDFA")
    def has_idfa(self, obj: Profile) -> bool:
        return bool(obj.idfa)

    @admin.display(boolean=True, description="GAID")
    def has_gaid(self, obj: Profile) -> bool:
        return bool(obj.gaid)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created on the API keys page or with ``create_api_key``; the hash never shows."""

    list_display = ["name", "workspace", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace"]
    fields = ["workspace", "name", "prefix", "created_by", "created_at", "last_used_at",
              "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # the full key must be shown to its creator once: the page or the command

    @admin.action(description="Revoke")
    def revoke(self, request, queryset):
        if not admin_is_confirmed(request):
            return admin_confirmation_page(
                self, request, queryset, title="Revoke these API keys?",
                consequences=[
                    "Each key below stops working at once: every request that sends it is "
                    "refused, and a revoked key cannot be made to work again.",
                    "Tools that use them need a new key from the workspace's API keys page.",
                ],
                button="Yes, revoke them",
            )
        revoked = api_keys_revoke(api_keys=queryset)
        self.message_user(request, f"{revoked} API key(s) revoked.")
