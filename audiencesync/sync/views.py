from django.contrib import messages
from django.shortcuts import redirect, render

from audiencesync.workspaces.decorators import manager_required
from audiencesync.workspaces.models import Profile
from audiencesync.workspaces.scoping import get_in_workspace_or_404

from .selectors import profile_erasure_plan
from .services import profile_erase


@manager_required
def profile_erase_confirm(request, profile_id: int):
    """GET: what erasing the profile does; POST: erase it."""
    profile = get_in_workspace_or_404(request, Profile.objects.all(), pk=profile_id)
    if request.method == "POST":
        external_id = profile.external_id
        result = profile_erase(profile=profile)
        messages.success(request, (
            f"Profile {external_id} deleted: its data is blanked, it left its canvases, and "
            f"{result.removes_queued} removal(s) from partner audiences are queued."))
        return redirect("profile_detail", profile_id=profile.pk)
    return render(request, "sync/profile_erase_confirm.html",
                  {"profile": profile, "targets": profile_erasure_plan(profile=profile)})
