from django.contrib import messages
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse

from audiencesync.confirm import Confirmation, confirmation_page, is_confirmed
from audiencesync.workspaces.decorators import manager_required
from audiencesync.workspaces.models import Profile
from audiencesync.workspaces.scoping import get_in_workspace_or_404

from .selectors import TRACE_LIMIT, profile_erasure_plan, profile_sync_trace
from .services import profile_erase


@manager_required
def profile_erase_confirm(request, profile_id: int):
    """GET, or a POST without the confirmation: what erasing does; the confirmed POST erases."""
    profile = get_in_workspace_or_404(request, Profile.objects.all(), pk=profile_id)
    if not is_confirmed(request):
        return confirmation_page(request, _erase_confirmation(profile))
    external_id = profile.external_id
    result = profile_erase(profile=profile)
    messages.success(request, (
        f"Profile {external_id} deleted: its data is blanked, it left its canvases, and "
        f"{result.removes_queued} removal(s) from partner audiences are queued."))
    return redirect("profile_detail", profile_id=profile.pk)


def _erase_confirmation(profile: Profile) -> Confirmation:
    targets = profile_erasure_plan(profile=profile)
    if targets:
        names = ", ".join(target.audience_name for target in targets)
        removals = (f"It is removed from {len(targets)} partner audience"
                    f"{'' if len(targets) == 1 else 's'}: {names}. The removals are sent with "
                    "the next batches (after any add of this user still waiting).")
    else:
        removals = "It was added to no partner audience, so no removal is sent."
    return Confirmation(
        title=f"Delete profile {profile.external_id}?",
        consequences=[
            "Deleting a profile (for example on a deletion request) cannot be undone.",
            removals,
            "It leaves every canvas it is in.",
            "Its email, phone, advertising ids and attributes are deleted; the profile is "
            f"kept only as a blank record named erased-{profile.pk} until the removals are "
            "sent.",
        ],
        button="Delete profile", cancel_url=reverse("profile_detail", args=[profile.pk]),
    )


def profile_sync_history(*, profile: Profile):
    """The profile page's "Sync history" section (registered in SyncConfig.ready): every sync
    item of a profile the calling view already scoped to its workspace."""
    return render_to_string("sync/_profile_sync_history.html", {
        "rows": profile_sync_trace(profile=profile), "limit": TRACE_LIMIT,
    })
