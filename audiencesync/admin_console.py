"""The admin's index as the operators' console: Django's list of models under a sync-health
panel that reads what ``sync_status`` prints (one report, so the two always agree)."""

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from audiencesync.sync.selectors import sync_status_report

admin.site.index_template = "admin/console_index.html"


def admin_index(request):
    now = timezone.now()
    return admin.site.index(request, extra_context={
        "health": sync_status_report(now=now),
        "since_24h": (now - timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S"),
    })
