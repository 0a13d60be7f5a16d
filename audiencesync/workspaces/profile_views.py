from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audiencesync.errors import ServiceError

from . import events, hooks, profile_selectors
from .attributes import MAX_PER_WORKSPACE
from .decorators import workspace_required
from .identifiers import profile_stored_identifiers
from .imports import REPORT_LIST_LIMIT, events_import, profiles_import
from .models import Profile
from .profile_forms import EventImportForm, ProfileImportForm
from .samples import sample_events_csv, sample_profiles_csv
from .scoping import get_in_workspace_or_404

PROFILES_PER_PAGE = 50


@workspace_required
def profile_list(request):
    workspace = request.workspace
    query = request.GET.get("q", "").strip()
    profiles = profile_selectors.profile_search(workspace=workspace, query=query)
    page = Paginator(profiles, PROFILES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "workspaces/profile_list.html",
        {
            "page": page,
            "query": query,
            "total": profile_selectors.profile_count(workspace=workspace)
            if query else page.paginator.count,
        },
    )


@workspace_required
def profile_detail(request, profile_id: int):
    profile = get_in_workspace_or_404(request, Profile.objects.all(), pk=profile_id)
    judged = profile_stored_identifiers(profile=profile)
    return render(
        request,
        "workspaces/profile_detail.html",
        {
            "profile": profile,
            "identifiers": [
                (Profile._meta.get_field(field).verbose_name, getattr(profile, field), normalized)
                for field, normalized in judged.items()
            ],
            "attributes": sorted(profile.attributes.items()),
            "latest_events": events.profile_events_latest(profile=profile),
            "event_summaries": events.profile_event_summaries(profile=profile),
            "sections": hooks.profile_sections_render(profile=profile),
        },
    )


@workspace_required
def attribute_list(request):
    return render(request, "workspaces/attribute_list.html", {
        "definitions": profile_selectors.attribute_definitions(workspace=request.workspace),
        "most": MAX_PER_WORKSPACE,
    })


@workspace_required
def profile_import(request):
    form = ProfileImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = profiles_import(
                workspace=request.workspace, csv_file=upload.file,
                on_consent_withdrawn=hooks.consent_withdrawn_notify,
            )
        except ServiceError as error:
            form.add_error("file", error.message)
    return render(
        request,
        "workspaces/profile_import.html",
        {"form": form, "report": report, "file_name": request.FILES.get("file"),
         "list_limit": REPORT_LIST_LIMIT},
    )


@workspace_required
def event_import(request):
    form = EventImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            report = events_import(workspace=request.workspace,
                                   csv_file=form.cleaned_data["file"].file)
        except ServiceError as error:
            form.add_error("file", error.message)
    return render(
        request,
        "workspaces/event_import.html",
        {"form": form, "report": report, "file_name": request.FILES.get("file"),
         "list_limit": REPORT_LIST_LIMIT, "events": True,
         "retention_days": settings.EVENT_RETENTION_DAYS},
    )


@workspace_required
def import_sample(request, kind: str):
    """A small CSV of the kind the import page takes, to start a file from."""
    if kind == "profiles":
        body = sample_profiles_csv()
    elif kind == "events":
        body = sample_events_csv(now=timezone.now())
    else:
        raise Http404(f"No sample called {kind!r}: there are profiles and events.")
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sample-{kind}.csv"'
    return response
