"""Over real HTTP: connect both partners through the sandbox's consent pages, choose ad
accounts, and see a revoked token turn the connection invalid after one check."""

from datetime import UTC, datetime, timedelta

import pytest
import requests

from audiencesync.proofs.browser import Browser
from audiencesync.proofs.connect import partner_connect, sign_in
from audiencesync.proofs.sandbox import sandbox_control_headers
from partners.models import ConnectionStatus, PartnerConnection
from partners.services import connections_check_all
from tests.e2e_support import live_partners  # noqa: F401
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("partner_key", ["tiktok", "pinterest"])
def test_connect_choose_accounts_then_revoke(live_partners, owner, partner_key):  # noqa: F811
    browser = Browser()
    sign_in(browser=browser, site_url=live_partners, email=owner.user.email, password=PASSWORD)
    walked = partner_connect(browser=browser, site_url=live_partners, partner_key=partner_key)

    assert any("/sandbox/" in url for url in walked)  # the consent page was the partner's
    connection = PartnerConnection.objects.get(workspace=owner.workspace, partner=partner_key)
    assert connection.status == ConnectionStatus.ACTIVE
    accounts = list(connection.ad_accounts.values_list("name", "selected"))
    assert len(accounts) >= 2 and all(selected for _, selected in accounts)
    page = browser.get(f"{live_partners}/partners/{partner_key}/").text
    assert "Connected ad accounts" in page and connection.access_token not in page

    requests.post(f"{live_partners}/sandbox/__sandbox__/control",
                  json={"action": "revoke", "partner": partner_key}, timeout=10,
                  headers=sandbox_control_headers()).raise_for_status()
    [checked] = connections_check_all(workspace=owner.workspace)
    assert checked.status == ConnectionStatus.INVALID
    page = browser.get(f"{live_partners}/partners/{partner_key}/").text
    assert "token is invalid" in page and "Reconnect" in page


def test_oauth_state_mismatch_reuse_and_expiry_are_refused(live_partners, owner, time_machine):  # noqa: F811
    browser = Browser()
    sign_in(browser=browser, site_url=live_partners, email=owner.user.email, password=PASSWORD)
    callback = f"{live_partners}/partners/tiktok/callback/"
    page = browser.get(f"{callback}?auth_code=x&state=forged").text
    assert "not started here or was already used" in page

    partner_page = browser.get(f"{live_partners}/partners/tiktok/")
    consent = browser.submit(partner_page, button="Connect TikTok")
    state = dict(p.split("=", 1) for p in consent.url.split("?", 1)[1].split("&"))["state"]
    wrong = browser.get(f"{callback}?auth_code=x&state=not-{state}").text
    assert "did not match this session" in wrong  # and the state is consumed by the attempt
    replay = browser.get(f"{callback}?auth_code=x&state={state}").text
    assert "not started here or was already used" in replay

    partner_page = browser.get(f"{live_partners}/partners/tiktok/")
    consent = browser.submit(partner_page, button="Connect TikTok")
    time_machine.move_to(datetime.now(UTC) + timedelta(minutes=16))
    late = browser.submit(consent, button="Confirm").text
    assert "took too long" in late
    assert not PartnerConnection.objects.filter(workspace=owner.workspace).exists()


def test_disconnect_deletes_the_tokens(live_partners, owner):  # noqa: F811
    browser = Browser()
    sign_in(browser=browser, site_url=live_partners, email=owner.user.email, password=PASSWORD)
    partner_connect(browser=browser, site_url=live_partners, partner_key="pinterest")
    confirmation = browser.get(f"{live_partners}/partners/pinterest/disconnect/")
    assert "its tokens are revoked at Pinterest and deleted here" in confirmation.text
    connection = PartnerConnection.objects.get(workspace=owner.workspace, partner="pinterest")
    assert connection.status == ConnectionStatus.ACTIVE  # asking changed nothing
    browser.submit(confirmation, button="Disconnect Pinterest")
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.DISCONNECTED
    assert (connection.access_token, connection.refresh_token, connection.token_hint) == ("", "", "")
    assert connection.ad_accounts.exists()  # canvases keep their accounts and audiences
