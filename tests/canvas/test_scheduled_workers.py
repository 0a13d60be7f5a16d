"""A scheduled canvas run by real django-q2 clusters against a standalone sandbox: two
clusters ticking at once run its occurrence once, every member of the target segment with
a usable email reaches the partner's audience, and the step's counters add up."""

import time

import pytest
from django_q.tasks import async_task

from audiencesync.proofs.processes import Processes
from audiencesync.proofs.sandbox import start_sandbox, workspace_connect
from audiencesync.workspaces.identifier_services import profiles_identifiers_refresh
from audiencesync.workspaces.models import Profile
from canvas.models import CanvasEntry, CanvasStatus, EntryMode, RunState, ScheduledRun, SyncItem
from canvas.segments.compile import definition_clean
from canvas.segments.models import Segment
from canvas.selectors import step_metrics
from canvas.services import canvases as canvas_services
from partners.models import Audience
from partners.services import connection_credentials
from partners.tiktok import TikTok
from tests import builders
from tests.sync.checks import assert_conserved
from tests.sync.test_workers import database_url

pytestmark = pytest.mark.django_db(transaction=True)

SEGMENT = {"groups": [{"join": "or", "filters": [
    {"kind": "identifier", "identifier": "email"}, {"kind": "identifier", "identifier": "phone"}]}]}


@pytest.fixture
def sandbox(tmp_path):
    box = start_sandbox(tmp_path)
    yield box
    box.processes.stop()


def test_two_clusters_run_a_scheduled_occurrence_once_and_sync_the_segment(
        settings, sandbox, workspace):
    settings.TIKTOK_API_BASE_URL = sandbox.tiktok_api
    settings.TIKTOK_AUTHORIZE_URL = f"{sandbox.url}/portal/auth"
    connection_row = workspace_connect(sandbox=sandbox, workspace=workspace, partner_key="tiktok")
    account = connection_row.ad_accounts.filter(selected=True).first()
    info = TikTok().create_audience(credentials=connection_credentials(connection=connection_row),
                                    ad_account_id=account.external_id, name="Scheduled",
                                    match_fields=["email"])
    target = Audience.objects.create(ad_account=account, external_id=info.id, name=info.name,
                                     match_fields=["email"])
    # 1,200 profiles: a third with an email, a third with a phone only, a third with neither.
    Profile.objects.bulk_create([
        Profile(workspace=workspace, external_id=f"p{i}",
                email=f"p{i}@example.com" if i % 3 == 0 else "",
                phone=f"+1415555{i:04d}" if i % 3 == 1 else "")
        for i in range(1200)])
    profiles_identifiers_refresh(workspace=workspace)
    segment = Segment.objects.create(workspace=workspace, name="Reachable",
                                     definition=definition_clean(workspace=workspace,
                                                                 definition=SEGMENT))
    canvas = builders.active_canvas(workspace, name="At launch")
    step = builders.sync_step(canvas, account=account, target=target, match_fields=["email"])
    canvas.status, canvas.launched_at = CanvasStatus.DRAFT, None
    canvas.entry_mode, canvas.target_segment = EntryMode.SCHEDULED, segment
    canvas.save()
    env = {"DATABASE_URL": database_url(), "TIKTOK_API_BASE_URL": sandbox.tiktok_api,
           "Q_WORKERS": "2", "SYNC_TICK_SECONDS": "0.1"}
    with Processes() as clusters:
        clusters.cluster(env=env)
        clusters.cluster(env=env)
        canvas_services.canvas_launch(canvas=canvas)  # enqueues a tick
        for _ in range(5):  # every cluster's scheduler ticking the same minute
            async_task("canvas.tasks.scheduled_entry_tick")
        async_task("audiencesync.sync.tasks.dispatch")
        end = time.monotonic() + 120
        while (not ScheduledRun.objects.filter(state=RunState.FINISHED).exists()
               or step_metrics(steps=[step])[0].pending):
            assert time.monotonic() < end, f"not done: {step_metrics(steps=[step])[0]}"
            time.sleep(0.3)
        time.sleep(2)  # a late tick would start a second run now, if it could
    [run] = ScheduledRun.objects.all()
    assert (run.eligible, run.entered, run.skipped) == (800, 800, 0)
    assert CanvasEntry.objects.count() == 800
    assert SyncItem.objects.filter(step=step).count() == 800
    metrics = step_metrics(steps=[step])[0]
    assert (metrics.entered, metrics.synced, metrics.not_synced) == (800, 400, 400)
    assert_conserved(step)
    assert len(sandbox.members("tiktok", target.external_id)) == 400
