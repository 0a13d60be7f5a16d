"""A marketer's journeys through the product in headless Chromium, against the live server
with the partner sandbox mounted in it (consent pages included)."""

from __future__ import annotations

import re

import pytest
import requests
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from audiencesync.proofs.sandbox import sandbox_control_headers
from audiencesync.sync.engine import sync_flush
from canvas.services.entry import canvas_enter_users
from tests import builders, mail_support
from tests.e2e_support import live_partners, sandbox  # noqa: F401
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIKTOK_US_ACCOUNT = "Sandbox Coffee Co. - US (7300000000000000001)"
# Users sent through the entries API: five with at least one usable match field (email
# or phone), two with none, who must be counted as not synced.
IDENTIFIED_USERS = [
    {"external_id": "u1", "email": "ana@example.com", "phone": "+14155552671"},
    {"external_id": "u2", "email": "Bruno@Example.com"},
    {"external_id": "u3", "email": "chen@example.com", "phone": "+442079460958"},
    {"external_id": "u4", "email": "dara@example.com"},
    {"external_id": "u5", "phone": "+14155550123"},
]
UNIDENTIFIED_USERS = [{"external_id": "u6"}, {"external_id": "u7"}]


def nav(page: Page, name: str):
    """A link of the header's navigation (home pages link to the same places by other names)."""
    return page.locator("header nav").get_by_role("link", name=name, exact=True)


def sign_up(page: Page, shoot, *, email: str) -> None:
    """Sign up, then open the verification mail's link (read from the test outbox) and confirm."""
    page.goto("/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    shoot("sign-up")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify Your Email Address")
    shoot("verification-sent")
    page.goto(mail_support.confirmation_link(mail.outbox, email))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm Email Address")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{email.split('@')[0]}'s workspace")
    checklist = page.locator("#checklist li")
    expect(checklist).to_have_count(6)
    expect(checklist.first).to_contain_text("Connect a partner")
    expect(page.locator("#checklist li.done")).to_have_count(0)
    shoot("home")


def sign_in(page: Page, *, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(nav(page, "Canvases")).to_be_visible()


def connect_tiktok(page: Page, shoot) -> None:
    """Partner Integrations -> TikTok -> consent at the partner -> choose every ad account."""
    nav(page, "Partner Integrations").click()
    shoot("partners")
    page.get_by_role("row", name=re.compile("TikTok")).get_by_role("link", name="Open").click()
    expect(page.get_by_text("Not connected.")).to_be_visible()
    shoot("tiktok-not-connected")
    page.get_by_role("button", name="Connect TikTok").click()
    expect(page).to_have_url(re.compile(r"/sandbox/portal/auth"))
    expect(page.get_by_role("heading", name=re.compile("Authorize app"))).to_be_visible()
    shoot("tiktok-consent")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Choose ad accounts")).to_be_visible()
    checkboxes = page.locator("input[name=ad_account]")
    expect(checkboxes).to_have_count(3)
    for index in range(3):
        checkboxes.nth(index).check()
    shoot("tiktok-choose-accounts")
    page.get_by_role("button", name="Save selection").click()
    expect(page.locator(".messages")).to_contain_text("3 ad accounts selected.")
    accounts = page.locator("h2:has-text('Connected ad accounts') + .panel tbody tr")
    expect(accounts).to_have_count(3)
    expect(accounts.filter(has_text="Sandbox Coffee Co. - US")).to_contain_text("Selected")
    shoot("tiktok-connected")


def canvas_with_sync_step(page: Page, shoot, *, name: str) -> None:
    """Canvases -> New canvas -> Audience Sync -> Custom Audience -> TikTok."""
    nav(page, "Canvases").click()
    shoot("canvases")
    page.get_by_label("Canvas name").fill(name)
    page.get_by_role("button", name="New canvas").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    shoot("canvas-new")
    page.get_by_role("button", name="Audience Sync").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audience Sync")
    page.get_by_label("TikTok", exact=True).check()  # the form updates in place (htmx)
    expect(page.get_by_text("TikTok ad account", exact=True)).to_be_visible()


def htmx_ready(page: Page, selector: str) -> None:
    """Wait until htmx has wired up the element a swap just brought (it does so a few
    milliseconds after the swap; a person is never that quick, a test is)."""
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return !!(e && e['htmx-internal-data']); }",
        arg=selector)


def choose_ad_account(page: Page) -> None:
    htmx_ready(page, "#ad-account")
    page.get_by_label("TikTok ad account").select_option(label=TIKTOK_US_ACCOUNT)
    expect(audience_box(page)).to_be_visible()
    htmx_ready(page, "#audience-q")


def audience_box(page: Page):
    return page.get_by_label(re.compile("Search the audiences of"))


def audience_option(page: Page, text: str):
    return page.locator("#audience-options label.option", has_text=text)


def metric(page: Page, name: str):
    return page.locator(f"[data-metric={name}]")


def test_sign_up_connect_build_launch_enter_and_watch_the_sync(page, shoot, live_partners):  # noqa: F811
    sign_up(page, shoot, email="mia@example.com")
    connect_tiktok(page, shoot)

    canvas_with_sync_step(page, shoot, name="Win back lapsed buyers")
    shoot("step-partner-chosen")
    choose_ad_account(page)
    audience_box(page).fill("Lapsed buyers")
    audience_option(page, "Create audience “Lapsed buyers”").locator("input").check()
    # Saved without a match field: the error sits by its field and every value is kept.
    page.get_by_role("button", name="Save step").click()
    expect(page.locator("fieldset:has(legend:text('Match fields to sync')) .errorlist")).to_have_text(
        "Choose at least one match field to sync.")
    expect(audience_box(page)).to_have_value("Lapsed buyers")
    expect(audience_option(page, "Create audience “Lapsed buyers”").locator("input")).to_be_checked()
    shoot("step-error-keeps-input")
    page.get_by_label("Email", exact=True).check()
    page.get_by_label("Phone", exact=True).check()
    shoot("step-new-audience")
    page.get_by_role("button", name="Save step").click()
    expect(page.locator(".messages")).to_contain_text(
        re.compile(r"Audience 'Lapsed buyers \(\w+\)' was created at TikTok \(id \d+\)"))
    expect(page.locator("#current-audience")).to_contain_text("adds users to Lapsed buyers")
    shoot("step-audience-created")

    page.get_by_role("link", name="Back to the canvas").click()
    expect(page.get_by_text("Add to Lapsed buyers")).to_be_visible()
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("h1 .badge")).to_have_text("Active")
    expect(page.locator(".messages")).to_contain_text("launched: it now takes entries")
    shoot("canvas-active")
    canvas_url = page.url
    canvas_id = re.search(r"/canvases/(\d+)/", canvas_url).group(1)

    nav(page, "Settings").click()
    shoot("settings")
    page.get_by_role("link", name=re.compile("Manage the keys")).click()
    page.get_by_label("Name").fill("CRM export")
    page.get_by_role("button", name="Create key").click()
    api_key = page.locator("#new-api-key").inner_text().strip()
    assert api_key.startswith("as_")
    shoot("api-key-created")

    users = [{**user, "ad_tracking_enabled": True} for user in IDENTIFIED_USERS + UNIDENTIFIED_USERS]
    answer = requests.post(f"{live_partners}/api/v1/canvases/{canvas_id}/entries",
                           json={"users": users}, headers={"Authorization": f"Bearer {api_key}"},
                           timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["entered"] == len(users)

    page.goto(canvas_url)
    page.get_by_role("link", name="Analytics").click()
    expect(metric(page, "entered")).to_have_text(str(len(users)))
    expect(metric(page, "pending")).to_have_text(str(len(IDENTIFIED_USERS)))
    expect(metric(page, "synced")).to_have_text("0")
    shoot("analytics-pending")

    sync_flush()
    page.get_by_role("link", name="Last hour").click()
    expect(page.locator("svg rect.bucket")).to_have_count(60)
    expect(metric(page, "entered")).to_have_text(str(len(users)))
    expect(metric(page, "synced")).to_have_text(str(len(IDENTIFIED_USERS)))
    expect(metric(page, "not_synced")).to_have_text(str(len(UNIDENTIFIED_USERS)))
    expect(metric(page, "pending")).to_have_text("0")
    expect(metric(page, "errored")).to_have_text("0")
    expect(metric(page, "exited")).to_have_text(str(len(users)))  # the sync step is the last
    shoot("analytics-synced")

    record = requests.get(f"{live_partners}/sandbox/__sandbox__/record", timeout=10,
                          headers=sandbox_control_headers()).json()
    [audience] = [a for a in record["audiences"] if a["name"].startswith("Lapsed buyers (")]
    assert audience["present"] == len(IDENTIFIED_USERS)


def test_launch_without_a_connected_partner_lists_every_reason(page, shoot, owner, live_partners):  # noqa: F811
    sign_in(page, email=owner.user.email)
    canvas_with_sync_step(page, shoot, name="Suppress loyal customers")
    expect(page.get_by_text("No TikTok ad account can be used")).to_be_visible()
    shoot("step-no-ad-account")

    page.get_by_role("link", name="Back to the canvas").click()
    page.get_by_role("button", name="Launch").click()
    refusal = page.locator(".banner.bad", has_text="Launch refused")
    expect(refusal.locator("li")).to_have_text([
        re.compile("choose a partner"),
        re.compile("choose an ad account"),
        re.compile("no audience"),
        re.compile("choose at least one match field"),
    ])
    expect(page.locator("h1 .badge")).to_have_text("Draft")
    expect(refusal.locator("li a")).to_have_count(4)  # each links to the step it concerns
    shoot("launch-refused")
    refusal.locator("li a").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audience Sync")
    page.get_by_role("link", name="Back to the canvas").click()

    page.locator("details.manage summary").click()
    page.get_by_label("Name", exact=True).fill("Suppress loyal customers (old)")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Suppress loyal customers (old)")
    page.locator("details.manage summary").click()
    page.get_by_role("button", name="Archive").click()
    expect(page.locator(".messages")).to_contain_text("archived")
    expect(page.get_by_role("link", name="Suppress loyal customers (old)")).to_have_count(0)
    page.get_by_role("link", name="Archived").click()
    expect(page.get_by_role("link", name="Suppress loyal customers (old)")).to_be_visible()
    shoot("canvas-archived")


def test_existing_streaming_audience_can_be_chosen_others_cannot(page, shoot, owner, live_partners):  # noqa: F811
    sign_in(page, email=owner.user.email)
    connect_tiktok(page, shoot)
    canvas_with_sync_step(page, shoot, name="Remove converted")
    choose_ad_account(page)

    newsletter = audience_option(page, "Newsletter export 2024")
    expect(newsletter.locator("input")).to_be_disabled()
    expect(newsletter).to_contain_text("Cannot take users")
    expect(audience_option(page, "Lookalike: loyalty members").locator("input")).to_be_disabled()
    shoot("step-existing-audiences")

    audience_box(page).fill("loyalty")  # filters in place as one types
    expect(newsletter).to_have_count(0)
    streaming = audience_option(page, "Loyalty members (CDP feed)")
    expect(streaming.locator("input")).to_be_enabled()
    streaming.locator("input").check()
    page.get_by_label("Remove users from audience").check()
    page.get_by_label("Email", exact=True).check()
    page.get_by_role("button", name="Save step").click()
    expect(page.locator(".messages")).to_contain_text("Step saved.")
    expect(page.locator("#current-audience")).to_contain_text(
        "removes users from Loyalty members (CDP feed)")
    shoot("step-existing-saved")

    # A new audience named like one the ad account has: asked before a second is made.
    audience_box(page).fill("loyalty members (cdp feed)")
    audience_option(page, "Create audience").locator("input").check()
    page.get_by_label("Add users to audience").check()
    page.get_by_role("button", name="Save step").click()
    expect(page.locator("#duplicate-name")).to_contain_text("already has an audience named")
    expect(page.locator("#current-audience")).to_contain_text("Loyalty members (CDP feed)")
    shoot("step-duplicate-name")

    page.get_by_role("link", name="Back to the canvas").click()
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("h1 .badge")).to_have_text("Active")
    shoot("canvas-active")


def test_chart_shows_users_entered_in_the_launch_minute(page, shoot, owner, live_partners,  # noqa: F811
                                                       time_machine):
    # Launched a second into a minute, users entered in that same minute: what every user
    # who enters right after launching sees.
    time_machine.move_to(timezone.now().replace(second=1, microsecond=0))
    account = builders.connected_account(owner.workspace)
    canvas = builders.active_canvas(owner.workspace)
    builders.sync_step(canvas, account=account, target=builders.audience(account))
    canvas_enter_users(canvas=canvas, users=builders.users(3, ad_tracking_enabled=True))

    sign_in(page, email=owner.user.email)
    page.goto(f"/canvases/{canvas.pk}/analytics/")
    expect(metric(page, "pending")).to_have_text("3")
    shoot("analytics")
    expect(page.locator(".panel svg")).to_have_count(1)


def tab_to(page: Page, text: str) -> None:
    """Press Tab until the focused element reads ``text`` (it must be reachable by keyboard)."""
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == text:
            return
    raise AssertionError(f"{text!r} cannot be reached with the Tab key")


def test_stop_a_canvas_through_its_confirmation_with_the_keyboard(
        page, shoot, owner, live_partners):  # noqa: F811
    account = builders.connected_account(owner.workspace)
    canvas = builders.active_canvas(owner.workspace)
    builders.sync_step(canvas, account=account, target=builders.audience(account))
    builders.delay_step(canvas, seconds=3600)
    canvas_enter_users(canvas=canvas, users=builders.users(2, ad_tracking_enabled=True))

    sign_in(page, email=owner.user.email)
    page.goto(f"/canvases/{canvas.pk}/")
    tab_to(page, "Stop")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Stop canvas {canvas.name}?")
    expect(page.locator("main li")).to_contain_text([
        f"Stop canvas {canvas.name}: no user enters it any more.",
        "2 users waiting in Delays exit the canvas now",
        "2 pending syncs finish",
        "cannot be launched again",
    ])
    shoot("stop-confirmation")
    tab_to(page, "Stop canvas")
    page.keyboard.press("Enter")

    expect(page.locator("h1 .badge")).to_have_text("Stopped")
    expect(page.locator(".messages")).to_contain_text(f"{canvas.name} stopped.")
    shoot("canvas-stopped")


def test_a_link_to_another_of_my_workspaces_offers_the_switch_on_the_404_page(
        page, shoot, owner, live_partners):  # noqa: F811
    elsewhere = MembershipFactory(user=owner.user, workspace__name="Second brand").workspace
    canvas = builders.active_canvas(elsewhere, name="Autumn launch")

    sign_in(page, email=owner.user.email)
    response = page.goto(f"/canvases/{canvas.pk}/")

    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    shoot("not-found-offers-switch")
    page.get_by_role("button", name="Switch to Second brand").click()

    expect(page).to_have_url(re.compile(rf"/canvases/{canvas.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Autumn launch")
    expect(page.locator("#ws-switch option:checked")).to_have_text("Second brand")


def test_an_invited_person_signs_up_verifies_and_accepts_the_invitation(page, shoot, owner):
    sign_in(page, email=owner.user.email)
    nav(page, "Members").click()
    page.fill("input[name=email]", "newbie@example.com")
    page.locator("#id_role").select_option("admin")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".messages")).to_contain_text("Invitation sent to newbie@example.com")
    expect(page.get_by_role("row", name=re.compile("newbie@example.com"))).to_contain_text("Admin")
    shoot("invitation-pending")
    page.get_by_role("button", name="Log out").click()

    invitation = mail_support.invitation_link(mail.outbox, "newbie@example.com")
    page.goto(invitation)
    expect(page.get_by_text("To accept, log in as newbie@example.com")).to_be_visible()
    shoot("invitation-logged-out")
    page.get_by_role("link", name="Sign up").click()
    page.fill("input[name=email]", "newbie@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify Your Email Address")
    assert owner.workspace.memberships.count() == 1  # signing up joined nothing

    page.goto(mail_support.confirmation_link(mail.outbox, "newbie@example.com"))
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(re.escape(invitation) + "$"))  # back where they began
    shoot("invitation-logged-in")
    page.get_by_role("button", name="Accept invitation").click()
    expect(page.locator(".messages")).to_contain_text(f"You joined {owner.workspace} as admin.")
    expect(page.locator("#ws-switch option:checked")).to_have_text(owner.workspace.name)
    shoot("joined")
    nav(page, "Members").click()
    expect(page.get_by_role("row", name=re.compile("newbie@example.com"))).to_contain_text("you")


def test_a_lookalike_is_created_from_the_audiences_page(page, shoot, owner, sandbox):  # noqa: F811
    from tests.canvas.test_audience_health import _live_step

    _, step = _live_step(sandbox, owner, partner_key="tiktok", users=1_000)
    sign_in(page, email=owner.user.email)
    page.goto(f"/canvases/audiences/{step.ad_account_id}/")
    row = page.get_by_role("row", name=re.compile(re.escape(step.audience.name)))
    row.get_by_role("link", name="Create look-alike").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Look-alike of {step.audience.name}")
    page.get_by_label("Look-alike name").fill("Buyers look-alike")
    page.get_by_label("Location").select_option(label="United Kingdom")
    page.get_by_label("Audience size").select_option(label="Broad: the largest reach")
    shoot("lookalike-form")
    page.get_by_role("button", name="Create look-alike at TikTok").click()

    expect(page.locator(".messages")).to_contain_text("TikTok is building the look-alike")
    lookalike = page.get_by_role("row", name=re.compile("Buyers look-alike"))
    expect(lookalike).to_contain_text(f"Look-alike of {step.audience.name}: takes no users")
    expect(lookalike).to_contain_text("Processing")
    expect(lookalike.get_by_role("link", name="Create look-alike")).to_have_count(0)
    shoot("lookalike-listed")
