from .selectors import membership_for

SESSION_KEY = "workspace_id"


class CurrentWorkspaceMiddleware:
    """Sets request.membership and request.workspace from the session's chosen workspace.

    Every page reads the workspace from here, never from the URL, so a member can only
    ever reach data of workspaces they belong to.
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
                request.session[SESSION_KEY] = membership.workspace_id
        return self.get_response(request)
