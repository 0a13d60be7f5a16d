"""The workspace's API keys page: everyone sees the list, owners and admins create and revoke.

A new key is shown in the answer to the POST that created it and nowhere else: it is
never put in the session or a message, so nothing but the creator's screen ever holds it.
"""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from audiencesync.errors import ServiceError

from .apikeys import api_key_create, api_key_revoke, api_keys_for_workspace
from .decorators import workspace_required


@never_cache
@workspace_required
def api_keys(request):
    workspace = request.workspace
    created = None
    name_error = ""
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins of this workspace manage API keys.")
        action = request.POST.get("action")
        try:
            if action == "create":
                created = api_key_create(workspace=workspace, name=request.POST.get("name", ""),
                                         created_by=request.user)
            elif action == "revoke":
                revoked = api_key_revoke(workspace=workspace,
                                         key_id=_int(request.POST.get("key_id")))
                messages.success(request, f"API key {revoked.name!r} revoked: calls with it "
                                 "are refused from now on.")
                return redirect("api_keys")
            else:
                messages.error(request, f"Unknown action {action!r}.")
                return redirect("api_keys")
        except ServiceError as error:
            if error.field != "name":
                messages.error(request, error.message)
                return redirect("api_keys")
            name_error = error.message
    return render(request, "workspaces/api_keys.html", {
        "api_keys": api_keys_for_workspace(workspace=workspace),
        "created": created,
        "max_users": settings.ENTRIES_API_MAX_USERS,
        "name_error": name_error,
        "name_value": request.POST.get("name", "") if name_error else "",
    })


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
