"""The ``--workspace SLUG`` argument, for any app's management command."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from audiencesync.workspaces.models import Workspace

# Up to this many workspaces, an unknown slug is answered with the list of them all.
SLUGS_LISTED = 20


def add_workspace_argument(parser: ArgumentParser, *, required: bool = True,
                           help: str = "Slug of the workspace.") -> None:
    parser.add_argument("--workspace", required=required, metavar="SLUG", help=help)


def workspace_from_options(options: dict[str, Any]) -> Workspace | None:
    """The workspace ``--workspace`` names; None when the argument is optional and not given.

    An unknown slug is a CommandError that says which slugs there are.
    """
    slug = options.get("workspace")
    if not slug:
        return None
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is not None:
        return workspace
    slugs = list(Workspace.objects.order_by("slug").values_list("slug", flat=True)
                 [:SLUGS_LISTED + 1])
    if not slugs:
        hint = "There are no workspaces yet."
    elif len(slugs) <= SLUGS_LISTED:
        hint = f"Workspaces: {', '.join(slugs)}."
    else:
        hint = "The slugs are in Django admin under Workspaces."
    raise CommandError(f"No workspace with slug {slug!r}. {hint}")
