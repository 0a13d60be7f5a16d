"""Step kinds are one table: a kind added as one entry (and its templates) is added from
the canvas page, checked at launch, walked, released, stopped and counted, without any
change to the walker, launch, stop or the views. Also: the editors' and the "enter all"
services work without a request, and every way into a canvas refuses a stopped one with
the same words."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from audiencesync.errors import FieldErrors, ServiceError
from canvas import steps
from canvas.models import Canvas, CanvasEntry, CanvasStatus, StepKind, StepStats
from canvas.services import canvases as canvas_services
from canvas.services.entries_bulk import canvas_for_entry
from canvas.services.entry import canvas_enter_users, entries_release_due
from canvas.steps import Counter, Editor, StepType
from tests import builders
from tests.factories import ProfileFactory


class Checkpoint(StepType):
    """A kind only this test knows: users wait a minute; it counts who reaches and leaves."""

    kind = "checkpoint"
    label = "Checkpoint"
    add_action = "add-checkpoint"
    fields = ("delay_value", "delay_unit")
    defaults = {"delay_value": 7, "delay_unit": "seconds"}
    waits = True
    counters = (Counter("entered", "Reached", short="reached"),
                Counter("exited", "Left", short="left"))
    editor = Editor(template="canvas/step_delay.html", form="canvas.forms.DelayForm",
                    save="canvas.services.canvases.step_delay_edit")
    summary_template = "canvas/_step_delay_summary.html"

    def __init__(self):
        self.reached: list[int] = []
        self.left: list[tuple[int, bool]] = []

    def launch_problems(self, *, canvas, step, where):
        return [f"{where}: 13 is unlucky."] if step.delay_value == 13 else []

    def wait_until(self, *, step, now):
        return now + timedelta(minutes=1)

    def on_reach(self, *, canvas, canvas_steps, steps, profiles, now):
        self.reached.append(len(profiles))
        return {step.pk: {"entered": len(profiles)} for step in steps}

    def on_exit(self, *, step, profile_ids, onward, now):
        self.left.append((len(list(profile_ids)), onward))
        return {step.pk: {"exited": len(list(profile_ids))}}


@pytest.fixture
def checkpoint(monkeypatch):
    kind = Checkpoint()
    monkeypatch.setitem(steps.STEP_TYPES, kind.kind, kind)
    return kind


@pytest.fixture
def draft_with_sync_step(workspace):
    canvas = Canvas.objects.create(workspace=workspace, name="Checkpoints")
    account = builders.connected_account(workspace)
    builders.sync_step(canvas, account=account, target=builders.audience(account),
                       match_fields=("email",))
    return canvas


def counted(step) -> tuple[int, int]:
    stats = StepStats.objects.filter(step=step)
    return sum(s.entered for s in stats), sum(s.exited for s in stats)


def test_a_kind_added_to_the_table_is_walked_released_stopped_and_counted_in_bulk(
        checkpoint, draft_with_sync_step, owner_client):
    canvas = draft_with_sync_step
    page = owner_client.get(reverse("canvas:detail", args=[canvas.pk])).content.decode()
    assert ">Checkpoint</button>" in page
    owner_client.post(reverse("canvas:action", args=[canvas.pk, "add-checkpoint"]))
    step = canvas.steps.get(kind="checkpoint")
    assert (step.position, step.delay_value) == (1, 7)  # its defaults
    editor = owner_client.get(reverse("canvas:step", args=[canvas.pk, step.pk]))
    assert editor.status_code == 200 and 'value="7"' in editor.content.decode()

    canvas_services.canvas_launch(canvas=canvas)
    canvas_enter_users(canvas=canvas, users=builders.users(50))
    assert checkpoint.reached == [50]  # all of them in one call
    waiting = CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True)
    assert waiting.filter(current_step=step).count() == 50

    waiting.update(resume_at=timezone.now() - timedelta(seconds=1))
    assert entries_release_due() == 50
    assert checkpoint.left == [(50, False)]  # the last step: they leave the canvas
    canvas_enter_users(canvas=canvas, users=builders.users(3, start=100))
    canvas_services.canvas_stop(canvas=canvas)
    assert checkpoint.left == [(50, False), (3, False)]
    assert not CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True).exists()
    assert counted(step) == (53, 53)

    page = owner_client.get(reverse("canvas:detail", args=[canvas.pk])).content.decode()
    assert "Reached 53 · left 53" in page
    analytics = owner_client.get(reverse("canvas:analytics", args=[canvas.pk])).content.decode()
    assert '<th class="num">Reached</th>' in analytics
    assert '<td class="num" data-metric="exited">53</td>' in analytics


def test_launch_asks_each_kind_for_its_problems(checkpoint, draft_with_sync_step):
    step = canvas_services.step_add(canvas=draft_with_sync_step, kind="checkpoint")
    step.delay_value = 13
    step.save()
    assert canvas_services.canvas_launch_problems(canvas=draft_with_sync_step) == [
        "Step 2 (Checkpoint): 13 is unlucky."]


def test_the_sync_editor_saves_through_a_service_without_a_request(workspace):
    canvas = Canvas.objects.create(workspace=workspace, name="Draft")
    account = builders.connected_account(workspace)
    target = builders.audience(account, match_fields=("email",))
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    edit = {"step": step, "user": None, "partner": "tiktok", "ad_account": account.pk,
            "audience": f"local-{target.pk}", "q": "", "action": "remove", "match_fields": [],
            "respect_ad_tracking": True, "confirm_duplicate": False}

    assert canvas_services.step_sync_save(**edit) == "Step saved."
    step.refresh_from_db()
    assert (step.partner, step.ad_account, step.audience, step.action, step.match_fields) == (
        "tiktok", account, target, "remove", ["email"])
    with pytest.raises(FieldErrors) as refused:
        canvas_services.step_sync_save(**{**edit, "partner": "myspace", "audience": ""})
    assert set(refused.value.errors) == {"partner", "audience"}


def test_enter_all_is_enqueued_only_once_its_transaction_commits(
        sync_canvas, workspace, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "SYNC", True)  # the background task runs in this process
    ProfileFactory.create_batch(3, workspace=workspace)
    inside = CanvasEntry.objects.filter(canvas=sync_canvas, exited_at__isnull=True)
    with django_capture_on_commit_callbacks() as callbacks:
        canvas_services.canvas_enter_all(canvas=sync_canvas)
    assert len(callbacks) == 1 and inside.count() == 0
    callbacks[0]()
    assert inside.count() == 3


def test_every_way_in_refuses_a_stopped_canvas_in_the_same_words(
        sync_canvas, owner_client, post_entries):
    Canvas.objects.filter(pk=sync_canvas.pk).update(status=CanvasStatus.STOPPED)
    sync_canvas.refresh_from_db()
    words = "Canvas 'Spring retargeting' is stopped: only an active canvas takes entries."
    shown = words.replace("'", "&#x27;")

    assert post_entries(sync_canvas.pk, {"users": builders.users(1)}).json() == {"error": words}
    with pytest.raises(ServiceError) as refused:
        canvas_for_entry(canvas_id=sync_canvas.pk)
    assert refused.value.message == words
    with pytest.raises(ServiceError) as refused:
        canvas_services.canvas_enter_all(canvas=sync_canvas)
    assert refused.value.message == words
    url = reverse("canvas:action", args=[sync_canvas.pk, "enter-all"])
    assert shown in owner_client.get(url, follow=True).content.decode()  # the confirmation
    assert shown in owner_client.post(url, {"confirmed": "yes"}, follow=True).content.decode()


def test_analytics_reads_the_step_metrics_once(owner_client, sync_canvas):
    with CaptureQueriesContext(connection) as queries:
        owner_client.get(reverse("canvas:analytics", args=[sync_canvas.pk]))
    oldest_pending = [q for q in queries if "MIN(" in q["sql"] and "syncitem" in q["sql"]]
    assert len(oldest_pending) == 1
