"""The home page guides a new workspace through its first steps, ticked from real state, and
then sums up what runs and what needs attention. Partner pages list, from each partner's
module, what the brand needs before connecting and answers to common problems."""

import re

from django.urls import reverse
from django.utils.html import escape

from audiencesync.home import home_checklist
from canvas.models import StepStats
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from partners import registry
from partners.models import ConnectionStatus, PartnerConnection
from tests import builders


def _ticked(workspace) -> list[str]:
    return [item.label for item in home_checklist(workspace=workspace) if item.done]


def test_the_checklist_ticks_each_step_from_the_workspaces_data(owner_client, owner):
    workspace = owner.workspace
    page = owner_client.get(reverse("home")).content.decode()
    assert "Get started" in page and _ticked(workspace) == []

    account = builders.connected_account(workspace)
    assert _ticked(workspace) == ["Connect a partner", "Choose ad accounts"]
    canvas = canvas_services.canvas_create(workspace=workspace, name="C", user=owner.user)
    assert "Build a canvas" in _ticked(workspace)
    builders.sync_step(canvas, account=account, target=builders.audience(account, external_id="9"),
                       action="add", match_fields=("email",))
    assert "Add an Audience Sync step" in _ticked(workspace)
    canvas_services.canvas_launch(canvas=canvas)
    canvas_enter_users(canvas=canvas, users=builders.users(2))

    assert len(_ticked(workspace)) == 6
    assert "Get started" not in owner_client.get(reverse("home")).content.decode()


def test_after_the_first_run_the_home_sums_up_and_says_what_needs_attention(owner_client, owner):
    account = builders.connected_account(owner.workspace)
    canvas = builders.active_canvas(owner.workspace)
    step = builders.sync_step(canvas, account=account,
                              target=builders.audience(account, external_id="9"), action="add",
                              match_fields=("email",))
    canvas_enter_users(canvas=canvas, users=builders.users(3))
    StepStats.objects.filter(step=step).update(synced=2, errored=1)
    PartnerConnection.objects.filter(workspace=owner.workspace).update(
        status=ConnectionStatus.INVALID)

    page = owner_client.get(reverse("home")).content.decode()

    assert re.search(r'data-metric="active_canvases">1<', page)
    assert re.search(r'data-metric="synced_today">2<', page)
    assert "TikTok token is invalid" in page
    assert "1 user errored in the last 24 hours" in page


def test_each_partner_page_lists_its_own_prerequisites_and_troubleshooting(owner_client):
    for partner in registry.all_partners():
        page = owner_client.get(reverse("partners:detail", args=[partner.key])).content.decode()

        assert partner.prerequisites and partner.troubleshooting()
        for item in partner.prerequisites:
            assert escape(item) in page
        questions = [question for question, _ in partner.troubleshooting()]
        for question in ("The token is invalid", "The canvas will not launch",
                         "When will the audience show users?"):
            assert question in questions and escape(question) in page
    tiktok = dict(registry.get("tiktok").troubleshooting())
    assert "400" in tiktok["Creating an audience fails: too many audiences"]
    assert "about 1,000 users" in tiktok["When will the audience show users?"]
