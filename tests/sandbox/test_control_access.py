"""The mounted sandbox's controls and record (hashes of every synced user, reset, revoke)
answer staff, or a tool holding the control token the product keeps under var/; nobody
else. Served on its own, the sandbox stays open to callers on the same machine."""

import orjson
import pytest
from django.test import Client

from partners.sandbox.control_views import CONTROL_TOKEN_HEADER
from tests.factories import UserFactory

from .conftest import ADVERTISER

READS = [
    "/sandbox/__sandbox__/record",
    "/sandbox/__sandbox__/status",
    "/sandbox/__sandbox__/audiences/tiktok/1001/members",
]
RESET = orjson.dumps({"action": "reset"})


def _post_reset(client: Client, **headers):
    return client.post("/sandbox/__sandbox__/control", RESET, content_type="application/json",
                       headers=headers)


@pytest.fixture
def audience_with_a_user(connected_tiktok):
    row = [{"id": "a" * 64, "audience_ids": ["1001"]}]
    answer = connected_tiktok.post("segment/mapping/", {
        "advertiser_ids": [ADVERTISER], "action": "add", "id_schema": ["EMAIL_SHA256"],
        "batch_data": [row],
    })
    assert answer["code"] == 0, answer


@pytest.mark.parametrize("who", ["anonymous", "member", "wrong token"])
@pytest.mark.django_db
def test_nobody_but_staff_or_the_token_reads_or_resets_the_sandbox(
        who, audience_with_a_user, record):
    outsider = Client()
    headers = {}
    if who == "member":
        outsider.force_login(UserFactory())
    if who == "wrong token":
        headers = {CONTROL_TOKEN_HEADER: "not-the-token"}

    for path in READS:
        answer = outsider.get(path, headers=headers)
        assert answer.status_code == 403, path
        assert "a" * 64 not in answer.content.decode()
    refused = _post_reset(outsider, **headers)
    assert refused.status_code == 403
    assert "staff only" in refused.json()["error"]
    assert record()["audiences"]  # nothing was reset


@pytest.mark.django_db
def test_staff_read_and_reset_the_sandbox(audience_with_a_user, record):
    staff = Client()
    staff.force_login(UserFactory(is_staff=True))
    members = staff.get("/sandbox/__sandbox__/audiences/tiktok/1001/members")
    assert members.json() == {"members": ["EMAIL_SHA256:" + "a" * 64]}
    assert staff.get("/sandbox/__sandbox__/record").json()["audiences"]
    assert _post_reset(staff).json() == {"ok": True}
    assert record()["audiences"] == []


def test_a_tool_with_the_token_reads_and_resets_the_sandbox(settings, audience_with_a_user):
    tool = Client()
    token = {CONTROL_TOKEN_HEADER: settings.SANDBOX_CONTROL_TOKEN}
    for path in READS:
        assert tool.get(path, headers=token).status_code == 200, path
    assert _post_reset(tool, **token).json() == {"ok": True}
    assert tool.get("/sandbox/__sandbox__/record", headers=token).json()["audiences"] == []


def test_the_token_is_kept_under_var_for_its_owner_only(settings):
    token_file = settings.VAR_DIR / "sandbox-control.token"
    assert token_file.read_text().strip() == settings.SANDBOX_CONTROL_TOKEN
    assert len(settings.SANDBOX_CONTROL_TOKEN) >= 32
    assert token_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.django_db
def test_a_staff_session_cannot_be_used_by_another_site_to_reset_the_sandbox(
        audience_with_a_user, record):
    """A page elsewhere could post to the controls with a staff member's cookies: without the
    CSRF token, as for any form of the product, it is refused."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory(is_staff=True))

    assert _post_reset(browser).status_code == 403
    assert record()["audiences"]
