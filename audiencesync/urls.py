from django.conf import settings
from django.contrib import admin
from django.urls import include, path

handler404 = "audiencesync.workspaces.views.page_not_found"

admin.site.site_header = "Audience Sync operators' console"
admin.site.site_title = "Audience Sync admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("partners/", include("partners.urls")),
    path("canvases/", include("canvas.urls")),
    path("segments/", include("canvas.segments.urls")),
    path("api/v1/", include("canvas.api_urls")),
    path("", include("audiencesync.sync.urls")),
    path("", include("audiencesync.workspaces.urls")),
]

if settings.PARTNER_SANDBOX:
    urlpatterns.insert(0, path("sandbox/", include("partners.sandbox.urls")))
