"""A marketer builds a segment with an exclusion group in headless Chromium, and a real
django-q2 cluster counts it while the page waits."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audiencesync.proofs.processes import Processes
from audiencesync.workspaces.track import TrackPayload, track_write
from tests.e2e.test_browser import nav, sign_in
from tests.e2e_support import database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def row(page: Page, name: str):
    """A filter row, by its accessible name ("Group 1, filter 1")."""
    return page.get_by_role("group", name=name, exact=True)


def settled(page: Page) -> None:
    """Wait for htmx's swap of the builder to settle: a field typed into before the swap
    lands is replaced, and new fields answer only once settled (20 ms, faster than a
    person, not than a test)."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)


def test_build_a_segment_with_an_exclusion_group_and_see_its_size(page, shoot, owner, live_server):
    # Spend 0, 10, ... 50; the ones with spend 20 and 40 have an email.
    track_write(workspace=owner.workspace, now=timezone.now(), payload=TrackPayload(attributes=[
        {"external_id": f"shopper-{n}", "plan": "pro", "spend": n * 10,
         **({"email": f"shopper{n}@example.com"} if n in (2, 4) else {})} for n in range(6)]))

    sign_in(page, email=owner.user.email)
    nav(page, "Segments").click()
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Segment name").fill("Spenders without email")

    first = row(page, "Group 1, filter 1")
    first.get_by_label("Attribute").select_option("spend")
    settled(page)
    # The attribute's type decides the conditions: htmx brings the number ones in place.
    expect(first.get_by_label("Condition")).to_contain_text("is greater than")
    first.get_by_label("Condition").select_option(label="is greater than")
    settled(page)
    first.get_by_label("Value").fill("15")

    page.get_by_role("button", name="Add exclusion group").click()
    settled(page)
    excluded = row(page, "Exclusion group 1, filter 1")
    excluded.get_by_label("Filter on").select_option(label="Identifier")
    settled(page)
    expect(excluded.get_by_label("Profile")).to_be_visible()
    excluded.get_by_label("Profile").select_option(label="has a usable email")
    settled(page)
    expect(row(page, "Group 1, filter 1").get_by_label("Value")).to_have_value("15")
    shoot("segment-built")

    page.get_by_role("button", name="Save segment").click()
    expect(page.locator(".messages")).to_contain_text("Segment Spenders without email created.")
    expect(page.get_by_text("Not calculated yet.")).to_be_visible()

    with Processes() as workers:
        workers.cluster(env={"DATABASE_URL": database_url()})
        page.get_by_role("button", name="Calculate exact size").click()
        # The page stays usable while the cluster counts; the panel updates by itself.
        expect(page.locator("[data-metric=size]")).to_have_text("2", timeout=60_000)
    shoot("segment-size")
    expect(page.locator("[data-reach=email]")).to_contain_text("0")
    sample = page.locator("ul.sample a")
    expect(sample).to_have_text(["shopper-3", "shopper-5"])
    sample.first.click()
    expect(page).to_have_url(re.compile(r"/profiles/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("shopper-3")
