"""Event volume per workspace for operators: `sync_status` and the Django admin."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audiencesync.workspaces.track import TrackPayload, track_write
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def events(workspace, *, names, profiles, now=None):
    track_write(workspace=workspace, now=now, payload=TrackPayload(attributes=[], events=[
        {"external_id": f"p{p}", "name": name, "time": iso(now or timezone.now())}
        for name in names for p in range(profiles)]))


def status() -> dict:
    out = StringIO()
    call_command("sync_status", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_sync_status_shows_each_workspaces_event_volume_in_a_constant_number_of_queries(
        workspace):
    quiet = WorkspaceFactory(slug="quiet")  # no events at all: not listed
    busy = WorkspaceFactory(slug="busy")
    two_days_ago = timezone.now() - timedelta(days=2)
    events(busy, names=["purchase"], profiles=2, now=two_days_ago)
    events(busy, names=["purchase", "app_open", "cart_abandoned"], profiles=3)
    events(workspace, names=["app_open"], profiles=1)

    with CaptureQueriesContext(connection) as few:
        report = status()
    for n in range(3):  # more workspaces with events: the same number of queries
        events(WorkspaceFactory(slug=f"more-{n}"), names=["x", "y"], profiles=2)
    with CaptureQueriesContext(connection) as more:
        assert len(status()["events"]) == 5

    by_slug = {row.pop("workspace"): row for row in report["events"]}
    assert quiet.slug not in by_slug
    # 2 old + 9 new events kept; 9 in the last 24 h; 3 names; a summary per profile and name
    assert by_slug["busy"] == {"events": 11, "events_24h": 9, "event_names": 3,
                               "summaries": 9}
    assert by_slug[workspace.slug] == {"events": 1, "events_24h": 1, "event_names": 1,
                                       "summaries": 1}
    assert len(more) == len(few)

    out = StringIO()
    call_command("sync_status", stdout=out)
    table = out.getvalue().splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("workspace"))
    assert table[header].split() == ["workspace", "events", "events_24h", "event_names",
                                     "summaries"]
    assert ["busy", "11", "9", "3", "9"] in [line.split() for line in table[header + 1:]]


def test_the_admin_lists_each_workspaces_event_volume_in_a_constant_number_of_queries(
        client, workspace):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    busy = WorkspaceFactory(name="Busy shop", slug="busy")
    events(busy, names=["purchase", "app_open"], profiles=4)

    with CaptureQueriesContext(connection) as few:
        page = client.get("/admin/workspaces/workspace/")
    for n in range(4):
        events(WorkspaceFactory(slug=f"more-{n}"), names=["x"], profiles=1)
    with CaptureQueriesContext(connection) as more:
        assert client.get("/admin/workspaces/workspace/").status_code == 200

    assert page.status_code == 200
    html = page.content.decode()
    assert "Events kept" in html and "Event summaries" in html
    row = html[html.index("Busy shop"):].split("</tr>", 1)[0]
    cells = [cell.split(">", 1)[1].split("<", 1)[0]
             for cell in row.split('<td class="field-')[1:]]
    # members, events kept, last 24 h, names, summaries
    assert cells[2:7] == ["0", "8", "8", "2", "8"]
    assert len(more) == len(few)
