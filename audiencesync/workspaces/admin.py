from django.contrib import admin

from .models import Invitation, Membership, Profile, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "default_country", "member_count", "created_by", "created_at"]
    list_filter = ["default_country", "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, obj: Workspace) -> int:
        return obj.memberships.count()


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

    @admin.display(boolean=True, description="IDFA")
    def has_idfa(self, obj: Profile) -> bool:
        return bool(obj.idfa)

    @admin.display(boolean=True, description="GAID")
    def has_gaid(self, obj: Profile) -> bool:
        return bool(obj.gaid)
