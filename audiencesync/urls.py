from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from audiencesync.admin_console import admin_index
from audiencesync.home import home

handler404 = "audiencesync.workspaces.views.page_not_found"

admin.site.site_header = "Audience Sync operators' console"
admin.site.site_title = "Audience Sync admin"

urlpatterns = [
    path("", home, name="home"),
    # The index is the operators' console (health panel above the models); the rest is stock.
    path("admin/", admin.site.admin_view(admin_index), name="admin_console"),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's, a file download).
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static("favicon.svg"),
                                                                permanent=True))),
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
