from django.contrib import admin

from audiencesync.confirm import admin_confirmation_page, admin_is_confirmed
from canvas.models import ApiKey
from canvas.services.apikeys import api_keys_revoke


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
