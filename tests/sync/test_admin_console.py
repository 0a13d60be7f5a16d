"""The admin's index is the operators' console: a sync-health panel (what ``sync_status``
prints, from the same report) above the models, each figure linking to the list behind it;
lists filter and show first what an operator reads first; names read right."""

import io
import json
import re
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audiencesync.proofs.processes import Processes
from audiencesync.sync.selectors import clusters_alive
from canvas.models import StepStats
from canvas.services.entry import canvas_enter_users
from partners.models import ConnectionStatus, PartnerConnection
from tests import builders
from tests.factories import UserFactory, WorkspaceFactory
from tests.sync.test_workers import database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _status_json() -> dict:
    out = io.StringIO()
    call_command("sync_status", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_the_health_panel_shows_what_sync_status_reports_with_links(staff_client, workspace):
    account = builders.connected_account(workspace)
    canvas = builders.active_canvas(workspace)
    step = builders.sync_step(canvas, account=account,
                              target=builders.audience(account, external_id="77"),
                              match_fields=("email",))
    canvas_enter_users(canvas=canvas, users=builders.users(4))
    StepStats.objects.create(step=step, bucket=timezone.now() - timedelta(hours=30), errored=0)
    StepStats.objects.filter(step=step).update(errored=1)  # one errored, in the last 24 h or not
    other = builders.connected_account(WorkspaceFactory(), partner="pinterest")
    PartnerConnection.objects.filter(pk=other.connection_id).update(
        status=ConnectionStatus.INVALID, invalid_since=timezone.now())

    page = staff_client.get(reverse("admin:index")).content.decode()
    report = _status_json()

    [row] = report["steps"]
    html = page[page.index(f'<tr data-step="{step.pk}">'):]
    assert re.search(rf'data-figure="pending"><a href="[^"]*step__id__exact={step.pk}'
                     rf'&amp;state__exact=pending">{row["pending"]}</a>', html)
    assert re.search(rf'data-figure="errored_24h"><a [^>]*>{row["errored_24h"]}</a>', html)
    assert (row["pending"], row["errored"], row["errored_24h"]) == (2, 2, 1)
    assert len(report["connections"]) == 1 and "1 connection not active" in page
    assert report["clusters"] == [] and "No cluster is alive" in page
    assert "Sync health" in page and "Step stats" in page and "Sync batches" in page
    assert page.count(">Accounts<") == 1


def test_a_running_cluster_is_seen_alive_by_its_own_heartbeat(staff_client, settings):
    with Processes() as processes:
        processes.cluster(env={"DATABASE_URL": database_url(), "Q_WORKERS": "2"})
        deadline = time.monotonic() + 60
        while not clusters_alive() and time.monotonic() < deadline:
            time.sleep(0.5)
        alive = _status_json()["clusters"]
        page = staff_client.get(reverse("admin:index")).content.decode()

    assert len(alive) == 1 and alive[0]["workers"] >= 2
    assert "1 cluster alive" in page


def test_sync_items_filter_by_workspace_canvas_step_state_and_day(staff_client, workspace):
    account = builders.connected_account(workspace)
    canvas = builders.active_canvas(workspace)
    step = builders.sync_step(canvas, account=account,
                              target=builders.audience(account, external_id="78"),
                              match_fields=("email",))
    canvas_enter_users(canvas=canvas, users=builders.users(2))
    url = reverse("admin:canvas_syncitem_changelist")
    today = timezone.now()

    page = staff_client.get(url, {
        "step__canvas__workspace__id__exact": workspace.pk, "step__canvas__id__exact": canvas.pk,
        "step__id__exact": step.pk, "state__exact": "pending", "created_at__day": today.day,
        "created_at__month": today.month, "created_at__year": today.year,
    }).content.decode()
    found = staff_client.get(url, {"q": "u1"}).content.decode()

    assert "2 sync items" in page or page.count('class="field-state"') == 2
    assert page.index("column-state") < page.index("column-profile_external_id")
    assert found.count('class="field-state"') == 1
