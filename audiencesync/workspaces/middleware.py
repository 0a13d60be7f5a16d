from zoneinfo import ZoneInfo

from django.utils import timezone

from .models import Membership
from .selectors import membership_for
from .services import membership_mark_used

SESSION_KEY = "workspace_id"


def workspace_make_current(request, membership: Membership) -> None:
    """Open the membership's workspace in this session; the person's next session starts there."""
    if request.session.get(SESSION_KEY) != membership.workspace_id:
        request.session[SESSION_KEY] = membership.workspace_id
        membership_mark_used(membership=membership)


class CurrentWorkspaceMiddleware:
    """Sets request.membership and request.workspace from the session's chosen workspace.

    Every page reads the workspace from here, never from the URL, so a member can only
    ever reach data of workspaces they belong to. A session without a choice opens the
    workspace the person used last.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.workspace = None
        if request.user.is_authenticated:
            membership = membership_for(
                user=request.user, workspace_id=request.session.get(SESSION_KEY)
            )
            if membership is not None:
                request.membership = membership
                request.workspace = membership.workspace
                workspace_make_current(request, membership)
                # Pages show times in the workspace's zone (templates name it with |date's T).
                timezone.activate(ZoneInfo(membership.workspace.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()  # the thread's next request starts from UTC again
