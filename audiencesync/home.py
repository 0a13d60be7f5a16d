"""The home page: a first-run checklist ticked from real state, then a summary of what runs
and what needs attention. It reads every floor (partners, canvases, the engine's counters),
so it lives with the site, not in the ground floor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, Sum
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from audiencesync.workspaces.decorators import workspace_required
from audiencesync.workspaces.models import Profile, Workspace
from audiencesync.workspaces.profile_selectors import profile_count
from canvas.models import Canvas, CanvasEntry, CanvasStatus, Step, StepKind, StepStats
from partners.models import AdAccount, AudienceStatus, ConnectionStatus, PartnerConnection


@dataclass(frozen=True)
class ChecklistItem:
    label: str
    done: bool
    url: str
    hint: str


def home_checklist(*, workspace: Workspace) -> list[ChecklistItem]:
    """The first-run steps, each ticked from the workspace's data (seven small queries)."""
    connections = PartnerConnection.objects.filter(workspace=workspace,
                                                   status=ConnectionStatus.ACTIVE)
    connected = connections.first()
    canvases = Canvas.objects.filter(workspace=workspace)
    sync_steps = Step.objects.filter(canvas__workspace=workspace, kind=StepKind.AUDIENCE_SYNC)
    first_canvas = canvases.order_by("created_at").first()
    accounts_url = (reverse("partners:accounts", args=[connected.partner]) if connected
                    else reverse("partners:list"))
    canvas_url = (reverse("canvas:detail", args=[first_canvas.pk]) if first_canvas
                  else reverse("canvas:list"))
    return [
        ChecklistItem("Connect a partner", connections.exists(), reverse("partners:list"),
                      "TikTok or Pinterest, once for the whole workspace."),
        ChecklistItem("Choose ad accounts",
                      AdAccount.objects.filter(connection__in=connections, selected=True,
                                               reachable=True).exists(),
                      accounts_url, "The ad accounts canvases may sync to."),
        ChecklistItem("Build a canvas", first_canvas is not None, reverse("canvas:list"),
                      "A journey users walk through."),
        ChecklistItem("Add an Audience Sync step", sync_steps.exists(), canvas_url,
                      "Choose the partner, ad account and audience."),
        ChecklistItem("Launch the canvas", canvases.filter(launched_at__isnull=False).exists(),
                      canvas_url, "Launch lists anything still missing."),
        ChecklistItem("Enter users or import profiles",
                      CanvasEntry.objects.filter(canvas__workspace=workspace).exists()
                      or Profile.objects.filter(workspace=workspace).exists(),
                      reverse("profile_import"),
                      "Import a CSV, send them through the API, or enter all profiles."),
    ]


@dataclass(frozen=True)
class HomeSummary:
    active_canvases: int
    synced_today: int
    invalid_connections: list[PartnerConnection]
    errored_last_24h: int
    deleted_audiences: list[Step]


def home_summary(*, workspace: Workspace) -> HomeSummary:
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    stats = StepStats.objects.filter(step__canvas__workspace=workspace)
    return HomeSummary(
        active_canvases=Canvas.objects.filter(workspace=workspace, status=CanvasStatus.ACTIVE,
                                              archived_at__isnull=True).count(),
        synced_today=stats.filter(bucket__gte=today).aggregate(n=Sum("synced"))["n"] or 0,
        invalid_connections=list(PartnerConnection.objects.filter(
            workspace=workspace, status=ConnectionStatus.INVALID)),
        errored_last_24h=stats.filter(bucket__gte=now - timedelta(hours=24))
        .aggregate(n=Sum("errored"))["n"] or 0,
        deleted_audiences=list(Step.objects.filter(
            Q(canvas__status=CanvasStatus.ACTIVE), canvas__workspace=workspace,
            audience__status=AudienceStatus.DELETED).select_related("canvas", "audience")),
    )


@workspace_required
def home(request):
    workspace = request.workspace
    checklist = home_checklist(workspace=workspace)
    return render(request, "home.html", {
        "profile_count": profile_count(workspace=workspace),
        "checklist": checklist,
        "checklist_done": all(item.done for item in checklist),
        "summary": home_summary(workspace=workspace),
    })
