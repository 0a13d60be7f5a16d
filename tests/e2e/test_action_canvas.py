"""A marketer builds an action-based canvas with an exception event and an add step that
removes on exit, in headless Chromium against the live server and its partner sandbox."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audiencesync.sync.engine import sync_flush
from audiencesync.workspaces.track import TrackPayload, track_write
from tests.e2e_support import live_partners, sandbox  # noqa: F401

from .test_browser import (
    audience_box,
    audience_option,
    canvas_with_sync_step,
    choose_ad_account,
    connect_tiktok,
    sign_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def track(workspace, *, attributes=(), events=()):
    now = timezone.now().isoformat()
    track_write(workspace=workspace, payload=TrackPayload(
        attributes=list(attributes),
        events=[{"external_id": who, "name": name, "time": now} for who, name in events]))


def test_an_action_based_canvas_with_an_exception_event_and_remove_on_exit(
        page: Page, shoot, owner, sandbox):  # noqa: F811
    track(owner.workspace, events=[("seed", "cart_abandoned"), ("seed", "purchase")])
    sign_in(page, email=owner.user.email)
    connect_tiktok(page, shoot)
    canvas_with_sync_step(page, shoot, name="Retarget until purchase")
    choose_ad_account(page)
    audience_box(page).fill("Abandoned carts")
    audience_option(page, "Create audience “Abandoned carts”").locator("input").check()
    page.get_by_label("Email", exact=True).check()
    page.get_by_label("Remove from this audience when the user leaves the canvas").check()
    shoot("step-remove-on-exit")
    page.get_by_role("button", name="Save step").click()
    expect(page.locator(".messages")).to_contain_text("Abandoned carts")
    expect(page.locator("#current-audience")).to_contain_text(
        "removes them again when they leave the canvas")

    page.get_by_role("link", name="Back to the canvas").click()
    page.get_by_role("button", name="Delay").click()
    page.get_by_label("Wait").fill("7")
    page.get_by_label("Unit").select_option("days")
    page.get_by_role("button", name="Save").click()

    page.get_by_text("Edit entry settings").click()
    page.get_by_role("radio", name="Action-based").check()
    page.get_by_label("Entry event (action-based)").fill("cart_abandoned")
    page.get_by_role("button", name="Save entry settings").click()
    expect(page.locator(".messages")).to_contain_text("Entry settings saved.")
    expect(page.locator("#entry")).to_contain_text(
        "Action-based: a user enters when they perform cart_abandoned.")
    page.get_by_label("Exception event").fill("purchase")
    page.get_by_role("button", name="Save exit criteria").click()
    expect(page.locator(".messages")).to_contain_text("Exit criteria saved.")
    shoot("action-canvas-draft")
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("h1 .badge")).to_have_text("Active")
    expect(page.locator("#exit-criteria")).to_contain_text(
        "Users leave at once when they perform purchase.")
    shoot("action-canvas-active")

    track(owner.workspace,
          attributes=[{"external_id": who, "email": f"{who}@example.com"}
                      for who in ("ana", "bo")],
          events=[("ana", "cart_abandoned"), ("bo", "cart_abandoned")])
    sync_flush()
    track(owner.workspace, events=[("ana", "purchase")])
    sync_flush()
    sync_flush()

    page.get_by_role("link", name="Analytics").click()
    companion = page.locator(".panel", has_text="Removed on exit from Abandoned carts")
    expect(companion.locator("[data-metric=entered]")).to_have_text("1")
    expect(companion.locator("[data-metric=synced]")).to_have_text("1")
    delay = page.locator(".panel", has_text="wait 7 days")
    expect(delay.locator("[data-metric=exited]")).to_have_text("1")
    shoot("action-canvas-analytics")
    audience_id = owner.workspace.connections.get().ad_accounts.get(
        name__contains="US").audiences.get(name__contains="Abandoned carts").external_id
    assert sandbox.members("tiktok", audience_id) == [
        "EMAIL_SHA256:" + hashlib.sha256(b"bo@example.com").hexdigest()]
