from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from .models import MANAGING_ROLES


def workspace_required(view):
    """The view needs a current workspace; a login without one is sent to create one."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.workspace is None:
            return redirect("workspace_create")
        return view(request, *args, **kwargs)

    return wrapper


def manager_required(view):
    """Owners and admins only (connect partners, manage members and API keys)."""

    @wraps(view)
    @workspace_required
    def wrapper(request, *args, **kwargs):
        if request.membership.role not in MANAGING_ROLES:
            raise PermissionDenied("Only owners and admins of this workspace can do this.")
        return view(request, *args, **kwargs)

    return wrapper
