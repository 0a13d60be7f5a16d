"""Objects reached by id are looked up in the current workspace only.

When the current workspace does not hold the object, the 404 still says nothing about it,
with one exception for the user's own data: if another workspace the user belongs to holds
it (a link opened after switching away), the 404 page offers to switch there. For a
workspace the user is not a member of, the page is the same as for an id that never existed.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from . import selectors
from .models import Workspace


class NotInCurrentWorkspace(Http404):
    """A 404 that knows which of the user's other workspaces holds the object, if any."""

    def __init__(self, message: str, *, elsewhere: Workspace | None = None):
        super().__init__(message)
        self.elsewhere = elsewhere


def get_in_workspace_or_404(
    request: HttpRequest, queryset: QuerySet, *, workspace_field: str = "workspace", **lookup
) -> Model:
    """``queryset.get(**lookup)`` within the current workspace, else NotInCurrentWorkspace.

    ``workspace_field`` is the path from the model to its workspace (``canvas__workspace``).
    """
    found = queryset.filter(**{workspace_field: request.workspace}, **lookup).first()
    if found is not None:
        return found
    elsewhere = None
    if request.user.is_authenticated:
        elsewhere = selectors.workspace_holding(
            user=request.user, workspace_ids=queryset.filter(**lookup).values(workspace_field))
    raise NotInCurrentWorkspace(
        f"No such {queryset.model._meta.verbose_name} in this workspace.", elsewhere=elsewhere)
