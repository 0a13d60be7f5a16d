"""Every main page on a 390 px phone and at 1,280 px: nothing wider than the screen, a header
menu that opens and leads everywhere, focus always visible, and no serious or critical
accessibility violation found by axe-core (vendored in tests/e2e/vendor/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from canvas.models import Canvas, Segment
from canvas.segments.compile import definition_clean
from canvas.segments.services import segment_size_calculate
from canvas.services.entry import canvas_enter_users
from tests import builders
from tests.e2e_support import live_partners  # noqa: F401
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Tab stops checked per page: more than any page's header plus its first screens of content.
TAB_STOPS = 60


@pytest.fixture
def pages(owner, live_partners):  # noqa: F811
    """The workspace a marketer has after a first week, and the address of every main page."""
    account = builders.connected_account(owner.workspace)
    canvas = builders.active_canvas(owner.workspace, name="Win back lapsed buyers with a long name")
    step = builders.sync_step(canvas, account=account, target=builders.audience(account))
    builders.delay_step(canvas, seconds=3600)
    canvas_enter_users(canvas=canvas,
                       users=builders.users(3, ad_tracking_enabled=True, phone="+14155552671"))
    profile = owner.workspace.profiles.order_by("external_id").first()
    draft = Canvas.objects.create(workspace=owner.workspace, name="Spring retargeting")
    draft_step = builders.sync_step(draft, account=account,
                                    target=builders.audience(account, external_id="9002"))
    draft_delay = builders.delay_step(draft)
    segment = Segment.objects.create(
        workspace=owner.workspace, name="Reachable by email",
        definition=definition_clean(workspace=owner.workspace, definition={
            "groups": [{"join": "and", "filters": [{"kind": "identifier", "identifier": "email"}]}],
            "exclusions": []}))
    segment_size_calculate(segment_id=segment.pk)
    return {
        "Home": "/",
        "Canvases": "/canvases/",
        "A canvas": f"/canvases/{canvas.pk}/",
        "Audience Sync step": f"/canvases/{canvas.pk}/steps/{step.pk}/",
        "Analytics": f"/canvases/{canvas.pk}/analytics/",
        "A draft canvas": f"/canvases/{draft.pk}/",
        "Step editor": f"/canvases/{draft.pk}/steps/{draft_step.pk}/",
        "Delay editor": f"/canvases/{draft.pk}/steps/{draft_delay.pk}/",
        "Audiences": f"/canvases/audiences/{account.pk}/",
        "Segments": "/segments/",
        "A segment": f"/segments/{segment.pk}/",
        "New segment": "/segments/new/",
        "Partners": "/partners/",
        "A partner": "/partners/tiktok/",
        "Profiles": "/profiles/",
        "A profile": f"/profiles/{profile.pk}/",
        "Attributes": "/profiles/attributes/",
        "Profile import": "/profiles/import/",
        "Event import": "/profiles/import-events/",
        "Members": "/members/",
        "Settings": "/settings/",
        "API keys": "/settings/api-keys/",
    }


def sign_in(page: Page, *, email: str) -> None:
    """Sign in (the header's links may be folded into the menu, so the home heading tells)."""
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator("header.top .email")).to_have_text(email)


def open_page(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response.status == 200, f"{path} answered {response.status}"
    expect(page.get_by_role("heading", level=1)).to_be_visible()


# A file a marketer might import: a new column, a row without an id, an email that is no
# email and a very long id (long words must wrap or scroll, never widen the page).
IMPORT_CSV = (
    "external_id,email,phone,loyalty_tier\n"
    "u0,user0@example.com,+14155552671,gold\n"
    ",nobody@example.com,,silver\n"
    "u9,not-an-email,,bronze\n"
    f"{'customer-' * 12}1,long@example.com,,gold\n"
).encode()


def import_profiles(page: Page) -> None:
    """Import IMPORT_CSV on the profile import page: the page answers with its report."""
    open_page(page, "/profiles/import/")
    page.get_by_label("CSV file").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": IMPORT_CSV})
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-report")).to_contain_text("rejected")


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def axe_serious(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("axe.run()")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
        for violation in results["violations"] if violation["impact"] in ("serious", "critical")
    ]


def focus_rings(page: Page) -> list[str]:
    """Tab through the page; every element the focus lands on must show an outline."""
    missing = []
    page.evaluate("document.activeElement.blur()")
    for _ in range(TAB_STOPS):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            const e = document.activeElement;
            if (e === document.body) return null;
            const style = getComputedStyle(e);
            return {name: e.tagName.toLowerCase() + " " + (e.textContent.trim().slice(0, 30) || e.name || ""),
                    ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2};
        }""")
        if focused is None:  # past the last element, back to the address bar
            break
        if not focused["ring"]:
            missing.append(focused["name"])
    return missing


def test_every_page_fits_a_phone_with_a_menu_that_leads_everywhere(page, shoot, owner, pages):
    page.set_viewport_size(PHONE)
    open_page(page, "/accounts/login/")
    assert page_width(page) <= PHONE["width"]
    sign_in(page, email=owner.user.email)
    for name, path in pages.items():
        open_page(page, path)
        shoot(name)
        assert page_width(page) <= PHONE["width"], f"{name} is {page_width(page)} px wide"
        assert focus_rings(page) == [], f"{name}: focus not visible on these"

    import_profiles(page)
    shoot("Import report")
    assert page_width(page) <= PHONE["width"], f"the import report is {page_width(page)} px wide"

    # The menu is folded; by keyboard it opens, says so, and every link in it leads to a page.
    menu = page.locator("#site-menu")
    toggle = page.get_by_role("button", name="Menu")
    links = menu.get_by_role("link")
    open_page(page, "/")
    page.keyboard.press("Tab")  # the first stop skips the header
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    expect(menu).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    shoot("menu-open")
    names = [links.nth(i).get_attribute("aria-label") or links.nth(i).inner_text()
             for i in range(links.count())]
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()
    assert names == ["Canvases", "Segments", "Profiles", "Partner Integrations", "Members", "Settings",
                     "New workspace"]
    for name in names:
        toggle.click()
        with page.expect_navigation() as navigation:
            menu.get_by_role("link", name=name, exact=True).click()
        assert navigation.value.status == 200, f"{name} answered {navigation.value.status}"
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page_width(page) <= PHONE["width"], f"{name} is {page_width(page)} px wide"
    # Log out is in the menu too, a button of a form.
    toggle.click()
    menu.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign In")


def test_without_scripts_the_phone_menu_lies_open(browser, live_server, owner, pages):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, email=owner.user.email)
        for path in (pages["Home"], pages["A profile"], pages["Analytics"]):
            open_page(page, path)
            expect(page.get_by_role("button", name="Menu")).to_be_hidden()
            expect(page.locator("#site-menu").get_by_role("link", name="Settings")).to_be_visible()
            assert page_width(page) <= PHONE["width"]
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_no_page_has_a_serious_accessibility_violation(page, shoot, owner, pages, viewport):
    page.set_viewport_size(viewport)
    found = {}
    open_page(page, "/accounts/login/")
    if violations := axe_serious(page):
        found["Sign in"] = violations
    sign_in(page, email=owner.user.email)
    for name, path in pages.items():
        open_page(page, path)
        if viewport is DESKTOP:
            shoot(name)
        if violations := axe_serious(page):
            found[name] = violations
    import_profiles(page)
    if viewport is DESKTOP:
        shoot("Import report")
    if violations := axe_serious(page):
        found["Import report"] = violations
    toggle = page.get_by_role("button", name="Menu")
    if viewport is DESKTOP:  # wide enough for the header's links, no menu to open
        expect(toggle).to_be_hidden()
        expect(page.locator("header nav").get_by_role("link", name="Settings")).to_be_visible()
    else:  # the menu's content, folded away on every page above
        toggle.click()
        if violations := axe_serious(page):
            found["Menu open"] = violations
    assert found == {}


def test_analytics_figures_update_in_place_keeping_the_keyboard_focus(page, owner, pages):
    canvas = owner.workspace.canvases.get(status="active")
    page.set_viewport_size(PHONE)
    sign_in(page, email=owner.user.email)
    open_page(page, pages["Analytics"])
    entered = page.locator("[data-funnel=entered]")
    expect(entered).to_have_text("3")
    page.evaluate("window.notReloaded = true")
    page.get_by_role("link", name="Last 7 days").focus()

    canvas_enter_users(canvas=canvas, users=builders.users(2, start=3))

    # The page polls every 5 seconds: the wait allows two polls.
    expect(entered).to_have_text("5", timeout=12_000)
    expect(page.locator("[data-metric=entered]")).to_have_text("5")
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_role("link", name="Last 7 days")).to_be_focused()
