"""`--workspace SLUG`, one argument for every command that takes a workspace."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

COMMANDS = [
    ("import_profiles", ["profiles.csv"]),
    ("import_events", ["events.csv"]),
    ("erase_profile", ["--external-id", "u0"]),
    ("create_api_key", []),
    ("check_connections", []),
]


@pytest.mark.parametrize(("command", "args"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_an_unknown_slug_is_refused_with_the_slugs_there_are(command, args):
    WorkspaceFactory(slug="acme")
    WorkspaceFactory(slug="globex")
    with pytest.raises(CommandError, match=r"^No workspace with slug 'nope'\. "
                                           r"Workspaces: acme, globex\.$"):
        call_command(command, "--workspace", "nope", *args, stdout=io.StringIO())


def test_an_unknown_slug_with_no_workspaces_says_there_are_none():
    with pytest.raises(CommandError, match=r"There are no workspaces yet\."):
        call_command("create_api_key", "--workspace", "nope", stdout=io.StringIO())


def test_an_unknown_slug_among_many_workspaces_points_to_the_admin():
    for number in range(21):
        WorkspaceFactory(slug=f"brand-{number:02d}")
    with pytest.raises(CommandError, match=r"The slugs are in Django admin under Workspaces\."):
        call_command("check_connections", "--workspace", "nope", stdout=io.StringIO())


def test_the_workspace_is_required_where_the_command_needs_one():
    with pytest.raises(CommandError, match="--workspace"):
        call_command("create_api_key", stdout=io.StringIO())


def test_an_optional_workspace_left_out_means_every_workspace():
    out = io.StringIO()
    call_command("check_connections", stdout=out)
    assert out.getvalue().strip() == "No active connections to check."
