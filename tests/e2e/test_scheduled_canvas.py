"""A marketer makes a scheduled canvas with a segment as its target audience, launches
it, and watches its run on the canvas page; a real django-q2 cluster runs it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from audiencesync.proofs.processes import Processes
from audiencesync.proofs.sandbox import workspace_connect
from audiencesync.workspaces.identifier_services import profiles_identifiers_refresh
from audiencesync.workspaces.models import Profile
from canvas.segments.compile import definition_clean
from canvas.segments.models import Segment
from tests.e2e.test_browser import (
    audience_box,
    audience_option,
    canvas_with_sync_step,
    choose_ad_account,
    sign_in,
)
from tests.e2e_support import live_partners, sandbox  # noqa: F401
from tests.sync.test_workers import database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HAS_EMAIL = {"groups": [{"join": "and", "filters": [{"kind": "identifier",
                                                     "identifier": "email"}]}]}


def test_a_scheduled_canvas_with_a_segment_runs_at_launch_and_shows_its_run(
        page: Page, shoot, owner, sandbox):  # noqa: F811
    workspace = owner.workspace
    workspace_connect(sandbox=sandbox, workspace=workspace, partner_key="tiktok")
    Profile.objects.bulk_create([Profile(workspace=workspace, external_id=f"c{i}",
                                         email=f"c{i}@example.com" if i % 4 else "")
                                 for i in range(40)])
    profiles_identifiers_refresh(workspace=workspace)
    Segment.objects.create(workspace=workspace, name="Has an email",
                           definition=definition_clean(workspace=workspace, definition=HAS_EMAIL))

    sign_in(page, email=owner.user.email)
    canvas_with_sync_step(page, shoot, name="Weekly newsletter readers")
    choose_ad_account(page)
    audience_box(page).fill("Readers")
    audience_option(page, "Create audience “Readers”").locator("input").check()
    page.get_by_label("Email", exact=True).check()
    page.get_by_role("button", name="Save step").click()
    expect(page.locator("#current-audience")).to_contain_text("adds users to Readers")
    page.get_by_role("link", name="Back to the canvas").click()

    page.get_by_text("Edit entry settings").click()
    page.get_by_role("radio", name="Scheduled").check()
    page.get_by_label("Runs").select_option(label="At launch")
    page.get_by_label("Target audience").select_option(label="Has an email")
    page.get_by_role("combobox", name=re.compile(r"^Re-entry:")).select_option(
        label="Never: a user enters once")
    shoot("entry-settings")
    page.get_by_role("button", name="Save entry settings").click()
    expect(page.locator(".messages")).to_contain_text("Entry settings saved.")
    entry = page.locator("#entry")
    expect(entry).to_contain_text("Scheduled: the target audience enters once, at launch.")
    expect(entry).to_contain_text("Target audience: segment Has an email")
    shoot("entry-settings-saved")

    with Processes() as clusters:
        clusters.cluster(env={"DATABASE_URL": database_url(), "Q_WORKERS": "2"})
        page.get_by_role("button", name="Launch").click()
        expect(page.locator("h1 .badge")).to_have_text("Active")
        run = page.locator("#runs tr.run")
        for _ in range(60):
            page.reload()
            if run.count() and "Finished" in run.first.inner_text():
                break
            page.wait_for_timeout(500)
    expect(run).to_have_count(1)
    cells = run.first.locator("td")
    expect(cells.nth(1)).to_have_text("Finished")
    expect(cells.nth(3)).to_have_text("30")  # eligible: the segment's members
    expect(cells.nth(4)).to_have_text("30")  # entered
    expect(cells.nth(5)).to_have_text(re.compile(r"^0"))
    shoot("run-finished")
