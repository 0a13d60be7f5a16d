"""Canvases a marketer can manage: rename any, archive what no longer runs (hidden from the
list, kept with its analytics), delete a draft that never ran, copies named "X (copy 2)",
and a list that filters by status and shows who entered today and in total."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audiencesync.errors import ServiceError
from canvas.models import Canvas, CanvasEntry, CanvasStatus
from canvas.selectors import canvases_for
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from tests import builders


def _canvas(owner, name="Spring sale"):
    return canvas_services.canvas_create(workspace=owner.workspace, name=name, user=owner.user)


def _post(client, canvas, action, **data):
    return client.post(reverse("canvas:action", args=[canvas.pk, action]), data)


def test_any_canvas_is_renamed_from_its_page(owner_client, owner, sync_canvas):
    response = _post(owner_client, sync_canvas, "rename", name="  Winter sale ")

    sync_canvas.refresh_from_db()
    assert response.status_code == 302 and sync_canvas.name == "Winter sale"
    _post(owner_client, sync_canvas, "rename", name="   ")
    sync_canvas.refresh_from_db()
    assert sync_canvas.name == "Winter sale"


def test_an_archived_canvas_leaves_the_list_and_keeps_its_analytics(owner_client, owner,
                                                                    sync_canvas):
    canvas_enter_users(canvas=sync_canvas, users=builders.users(2))
    with pytest.raises(ServiceError, match="stop it before archiving"):
        canvas_services.canvas_archive(canvas=sync_canvas)
    canvas_services.canvas_stop(canvas=sync_canvas)

    _post(owner_client, sync_canvas, "archive")

    link = f'href="{reverse("canvas:detail", args=[sync_canvas.pk])}"'
    listing = owner_client.get(reverse("canvas:list")).content.decode()
    archived = owner_client.get(reverse("canvas:list") + "?show=archived").content.decode()
    assert link not in listing and link in archived
    analytics = owner_client.get(reverse("canvas:analytics", args=[sync_canvas.pk]))
    assert analytics.status_code == 200
    _post(owner_client, sync_canvas, "unarchive")
    assert link in owner_client.get(reverse("canvas:list")).content.decode()


def test_only_a_draft_that_never_ran_is_deleted_after_confirming(owner_client, owner,
                                                                 sync_canvas):
    draft = _canvas(owner, "Scratch")
    canvas_services.step_add(canvas=draft, kind="delay")

    page = owner_client.get(reverse("canvas:action", args=[draft.pk, "delete"])).content.decode()
    assert "Delete draft Scratch?" in page and "1 component" in page
    assert Canvas.objects.filter(pk=draft.pk).exists()
    owner_client.post(reverse("canvas:action", args=[draft.pk, "delete"]), {"confirmed": "yes"})
    assert not Canvas.objects.filter(pk=draft.pk).exists()

    with pytest.raises(ServiceError, match="archive it instead"):
        canvas_services.canvas_delete(canvas=sync_canvas)


def test_copies_count_on_from_the_original_name(owner):
    original = _canvas(owner, "Retarget")

    first = canvas_services.canvas_duplicate(canvas=original, user=owner.user)
    second = canvas_services.canvas_duplicate(canvas=original, user=owner.user)
    of_a_copy = canvas_services.canvas_duplicate(canvas=first, user=owner.user)

    assert [first.name, second.name, of_a_copy.name] == [
        "Retarget (copy)", "Retarget (copy 2)", "Retarget (copy 3)"]


def test_the_list_filters_by_status_and_counts_entries_today_and_in_total(owner, sync_canvas):
    draft = _canvas(owner, "Draft one")
    yesterday = timezone.now() - timedelta(days=1)
    with time_machine.travel(yesterday.replace(hour=12), tick=False):
        canvas_enter_users(canvas=sync_canvas, users=builders.users(3))
    CanvasEntry.objects.filter(canvas=sync_canvas).update(exited_at=timezone.now())
    canvas_enter_users(canvas=sync_canvas, users=builders.users(2))

    every = {c.name: c for c in canvases_for(workspace=owner.workspace)}
    active = [c.name for c in canvases_for(workspace=owner.workspace, show=CanvasStatus.ACTIVE)]

    assert (every[sync_canvas.name].entered_today, every[sync_canvas.name].entered_total) == (2, 5)
    assert (every["Draft one"].entered_total, every["Draft one"].step_count) == (0, 0)
    assert active == [sync_canvas.name] and draft.name not in active


def test_a_component_is_added_between_two_others_from_the_canvas_page(owner_client, owner):
    canvas = _canvas(owner, "Flow")
    first = canvas_services.step_add(canvas=canvas, kind="delay")
    last = canvas_services.step_add(canvas=canvas, kind="delay")
    page = owner_client.get(reverse("canvas:detail", args=[canvas.pk])).content.decode()
    assert page.count("Add a component here") == 1  # one gap between two components

    owner_client.post(reverse("canvas:action", args=[canvas.pk, "add-audience-sync"]),
                      {"position": "1"})

    kinds = list(canvas.steps.order_by("position").values_list("pk", "kind"))
    assert kinds[0] == (first.pk, "delay") and kinds[2] == (last.pk, "delay")
    assert kinds[1][1] == "audience_sync"
    assert [s.position for s in canvas.steps.order_by("position")] == [0, 1, 2]


@pytest.mark.parametrize(("name", "reason"), [("a\x00b", "NUL"), ("x" * 201, "200 characters")])
def test_a_name_no_database_keeps_is_refused_in_words(owner, name, reason):
    canvas = _canvas(owner)

    with pytest.raises(ServiceError, match=reason):
        canvas_services.canvas_rename(canvas=canvas, name=name)
