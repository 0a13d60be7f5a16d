from django.shortcuts import get_object_or_404, render

from .decorators import workspace_required
from .models import Profile


@workspace_required
def profile_list(request):
    profiles = Profile.objects.filter(workspace=request.workspace)[:50]
    return render(request, "workspaces/profile_list.html", {"profiles": profiles})


@workspace_required
def profile_detail(request, profile_id: int):
    profile = get_object_or_404(Profile, pk=profile_id, workspace=request.workspace)
    return render(request, "workspaces/profile_detail.html", {"profile": profile})


@workspace_required
def profile_import(request):
    return render(request, "workspaces/profile_import.html", {})
