"""The consent pages work for a browser, and for a program that reads the form like one."""

from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import pytest

from .conftest import CALLBACK, PINTEREST_CLIENT_ID, TIKTOK_APP_ID, PinterestClient, query_of


class ConsentForm(HTMLParser):
    """The page's form as the product's demo sees it: action, fields and submit buttons."""

    def __init__(self, page: str):
        super().__init__()
        self.action = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, tuple[str, str]] = {}
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method", "").lower() == "post":
            self.action = attrs.get("action", "")
        elif tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "button" and attrs.get("type") == "submit":
            self.buttons[attrs["value"]] = (attrs["name"], attrs["value"])


def _submit(client, page_url: str, response, choice: str):
    form = ConsentForm(response.content.decode())
    name, value = form.buttons[choice]
    return client.post(
        urljoin(page_url, form.action), urlencode({**form.fields, name: value}),
        content_type="application/x-www-form-urlencoded",
    )


TIKTOK_PAGE = "/sandbox/portal/auth?" + urlencode(
    {"app_id": TIKTOK_APP_ID, "state": "s-1", "redirect_uri": CALLBACK}
)
PINTEREST_PAGE = "/sandbox/oauth/?" + urlencode({
    "client_id": PINTEREST_CLIENT_ID, "redirect_uri": CALLBACK, "response_type": "code",
    "scope": "ads:read,ads:write", "state": "s-1",
})


@pytest.mark.parametrize(
    ("page_url", "accounts"),
    [
        (TIKTOK_PAGE, ["Sandbox Coffee Co. - US", "Sandbox Coffee Co. - EU",
                       "Sandbox Coffee Co. - Wholesale"]),
        (PINTEREST_PAGE, ["Sandbox Coffee Co. US", "Sandbox Coffee Co. UK",
                          "Sandbox Coffee Co. Germany"]),
    ],
)
def test_the_page_shows_the_business_its_accounts_and_a_form(client, page_url, accounts):
    response = client.get(page_url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Sandbox Coffee Co." in page
    assert all(account in page for account in accounts)
    form = ConsentForm(page)
    assert form.action == page_url.split("?")[0]
    assert set(form.buttons) == {"confirm", "cancel"}
    assert form.fields["state"] == "s-1"
    assert form.fields["redirect_uri"] == CALLBACK


def test_tiktok_confirm_returns_an_auth_code_and_the_state(client):
    response = _submit(client, TIKTOK_PAGE, client.get(TIKTOK_PAGE), "confirm")
    assert response.status_code == 302
    assert response["Location"].startswith(CALLBACK + "?")
    query = query_of(response["Location"])
    assert query["state"] == "s-1"
    assert len(query["auth_code"]) >= 20


def test_pinterest_confirm_returns_a_code_and_the_state(client):
    response = _submit(client, PINTEREST_PAGE, client.get(PINTEREST_PAGE), "confirm")
    assert response.status_code == 302
    query = query_of(response["Location"])
    assert query["state"] == "s-1"
    assert query["code"]


@pytest.mark.parametrize("page_url", [TIKTOK_PAGE, PINTEREST_PAGE])
def test_cancel_returns_access_denied(client, page_url):
    response = _submit(client, page_url, client.get(page_url), "cancel")
    assert response.status_code == 302
    assert query_of(response["Location"]) == {"error": "access_denied", "state": "s-1"}


def test_a_query_already_in_the_redirect_uri_is_kept(client, settings):
    settings.SANDBOX_TIKTOK_REDIRECT_URIS = CALLBACK + "?partner=tiktok"
    page_url = "/sandbox/portal/auth?" + urlencode(
        {"app_id": TIKTOK_APP_ID, "state": "s", "redirect_uri": CALLBACK + "?partner=tiktok"}
    )
    response = _submit(client, page_url, client.get(page_url), "confirm")
    query = query_of(response["Location"])
    assert query["partner"] == "tiktok"
    assert "auth_code" in query


@pytest.mark.parametrize(
    "page_url",
    [
        TIKTOK_PAGE.replace(TIKTOK_APP_ID, "someone-elses-app"),
        PINTEREST_PAGE.replace(PINTEREST_CLIENT_ID, "someone-elses-app"),
        PINTEREST_PAGE.replace("response_type=code", "response_type=token"),
        TIKTOK_PAGE.replace("redirect_uri=https", "redirect_uri=javascript"),
    ],
)
def test_a_bad_request_shows_an_error_page_without_a_form(client, page_url):
    response = client.get(page_url)
    assert response.status_code == 400
    assert ConsentForm(response.content.decode()).action is None


def test_each_pinterest_approval_is_a_new_user_with_its_own_budget(client, record):
    for _ in range(2):
        user = PinterestClient(client)
        user.connect()
        assert user.call("get", "ad_accounts").status_code == 200
    assert set(record()["max_requests_per_s"]) == {"pinterest:user-1", "pinterest:user-2"}


@pytest.mark.parametrize("page", [TIKTOK_PAGE, PINTEREST_PAGE])
@pytest.mark.parametrize("foreign", [
    "https://attacker.example/steal", "https://app.example/partners/callback/../../evil",
    "https://app.example.attacker.example/partners/callback",
])
def test_consent_never_sends_the_code_to_a_redirect_uri_the_app_did_not_register(
        client, page, foreign):
    page_url = page.replace(quote(CALLBACK, safe=""), quote(foreign, safe=""))
    assert quote(foreign, safe="") in page_url
    shown = client.get(page_url)
    posted = client.post(urlsplit(page_url).path, dict(parse_qsl(urlsplit(page_url).query),
                                                      decision="confirm"))

    for response in (shown, posted):
        assert response.status_code == 400
        assert "not registered" in response.content.decode()
        assert "Location" not in response
