from django.contrib import admin, messages

from audiencesync.confirm import admin_confirmation_page, admin_is_confirmed

from . import services
from .models import AdAccount, Audience, PartnerConnection


class AdAccountInline(admin.TabularInline):
    model = AdAccount
    extra = 0
    fields = ["external_id", "name", "currency", "selected", "reachable"]
    readonly_fields = ["external_id", "name", "currency", "reachable"]


@admin.register(PartnerConnection)
class PartnerConnectionAdmin(admin.ModelAdmin):
    """Tokens never appear here: only their last four characters."""

    list_display = ["workspace", "partner", "status", "selected_accounts", "token_hint",
                    "connected_at", "last_checked_at", "last_error"]
    list_filter = ["partner", "status"]
    search_fields = ["workspace__name", "workspace__slug", "connected_by__email"]
    list_select_related = ["workspace"]
    fields = ["workspace", "partner", "status", "token_hint", "scope", "expires_at",
              "refresh_expires_at", "connected_by", "connected_at", "last_checked_at",
              "invalid_since", "last_error"]
    readonly_fields = fields
    inlines = [AdAccountInline]
    actions = ["check_token_now", "disconnect"]

    def has_add_permission(self, request):
        return False  # connections are made through the partner's consent page

    @admin.display(description="ad accounts selected")
    def selected_accounts(self, obj: PartnerConnection) -> int:
        return obj.ad_accounts.filter(selected=True).count()

    @admin.action(description="Check token now")
    def check_token_now(self, request, queryset):
        for connection in queryset.filter(status="active"):
            connection = services.connection_check(connection=connection)
            level = messages.SUCCESS if connection.is_active and not connection.last_error else messages.ERROR
            self.message_user(
                request, f"{connection}: {connection.get_status_display()} "
                f"{connection.last_error}".strip(), level
            )

    @admin.action(description="Disconnect (delete tokens)")
    def disconnect(self, request, queryset):
        if not admin_is_confirmed(request):
            return admin_confirmation_page(
                self, request, queryset, title="Disconnect these connections?",
                consequences=[
                    "The tokens of each connection below are revoked at the partner and "
                    "deleted here; this cannot be undone.",
                    "Their canvases stop syncing: users waiting to sync stay pending until "
                    "someone of the workspace reconnects on the partner page.",
                ],
                button="Yes, disconnect them",
            )
        for connection in queryset:
            services.connection_disconnect(connection=connection)
        self.message_user(request, f"{queryset.count()} connection(s) disconnected.")


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "ad_account", "status", "created_here", "created_at"]
    list_filter = ["status", "created_here", "ad_account__connection__partner"]
    search_fields = ["name", "external_id", "ad_account__name", "ad_account__external_id"]
    list_select_related = ["ad_account"]
