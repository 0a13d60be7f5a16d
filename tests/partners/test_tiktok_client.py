"""Contract tests: what the TikTok client sends, and what it makes of every answer."""

import logging
import traceback
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
import requests
import responses

from partners import ratelimit
from partners.base import (
    AudienceGone,
    BatchTooLarge,
    Credentials,
    InvalidToken,
    PartnerError,
    Permanent,
    RateLimited,
    Transient,
)
from partners.tiktok import TikTok

BASE = "https://tiktok.test/open_api/v1.3/"
APP_ID = "tt-app-1234"
APP_SECRET = "tiktok-app-secret-XYZ-987"
TOKEN = "tt-access-token-0123456789abcdef"
CREDS = Credentials(access_token=TOKEN, connection_id=42)
ADVERTISER = "7178000000000000001"
H = {name: name[0] * 64 for name in ("email", "phone", "idfa", "gaid")}  # fake SHA-256 hashes


@pytest.fixture(autouse=True)
def tiktok_settings(settings):
    settings.TIKTOK_API_BASE_URL = BASE
    settings.TIKTOK_AUTHORIZE_URL = "https://tiktok.test/portal/auth"
    settings.TIKTOK_APP_ID = APP_ID
    settings.TIKTOK_SECRET = APP_SECRET
    settings.TIKTOK_RATE_PER_S = 50.0
    settings.TIKTOK_MAX_BATCH = 10_000
    settings.TIKTOK_MAX_AUDIENCES = 400
    settings.PARTNER_HTTP_TIMEOUT = 7.5


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture(autouse=True)
def rate_calls(monkeypatch, request):
    """(key, limit, requests already sent) for every rate-limiter call."""
    calls = []

    def acquire(key: str, *, limit_per_s: float) -> None:
        mock = request.getfixturevalue("api") if "api" in request.fixturenames else None
        calls.append((key, limit_per_s, len(mock.calls) if mock else 0))

    monkeypatch.setattr(ratelimit, "acquire", acquire)
    return calls


@pytest.fixture
def tiktok():
    return TikTok()


def ok(data=None, *, code=0, message="OK", request_id="req-1"):
    return {"code": code, "message": message, "request_id": request_id, "data": data or {}}


def sent(mock, index=0):
    """The request as sent: method, path, query, headers, JSON body."""
    request = mock.calls[index].request
    parts = urlsplit(request.url)
    body = orjson.loads(request.body) if request.body else None
    return request.method, parts.path, dict(parse_qsl(parts.query)), request.headers, body


def mapping_call(tiktok):
    return tiktok.send_users(
        credentials=CREDS, ad_account_id=ADVERTISER, audience_id="900", action="add",
        match_fields=["email"], rows=[{"email": H["email"]}],
    )


# --- OAuth -------------------------------------------------------------------------------


def test_authorize_url_sends_the_advertiser_to_the_portal_with_app_state_and_redirect(tiktok):
    url = tiktok.authorize_url(state="st-1", redirect_uri="https://app.test/partners/cb/tiktok/")

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "tiktok.test", "/portal/auth")
    assert dict(parse_qsl(parts.query)) == {
        "app_id": APP_ID, "state": "st-1", "redirect_uri": "https://app.test/partners/cb/tiktok/",
    }


def test_exchange_code_posts_app_credentials_and_reads_a_token_that_never_expires(
    tiktok, api, rate_calls
):
    api.post(BASE + "oauth2/access_token/", json=ok(
        {"access_token": "new-token-abcdef12", "advertiser_ids": [7001, "7002"], "scope": [3, 4]}
    ))

    tokens = tiktok.exchange_code(code="auth-code-1", redirect_uri="https://app.test/cb")

    method, path, query, headers, body = sent(api)
    assert (method, path, query) == ("POST", "/open_api/v1.3/oauth2/access_token/", {})
    assert body == {"app_id": APP_ID, "secret": APP_SECRET, "auth_code": "auth-code-1"}
    assert headers["Content-Type"] == "application/json"
    assert "Access-Token" not in headers
    assert tokens.access_token == "new-token-abcdef12"
    assert tokens.ad_account_ids == ("7001", "7002")
    assert tokens.scope == "3,4"
    assert (tokens.expires_at, tokens.refresh_token, tokens.refresh_expires_at) == (None, "", None)
    assert rate_calls == []  # no connection yet: outside every rate budget


def test_exchange_code_refused_code_is_permanent_without_the_secret(tiktok, api):
    api.post(BASE + "oauth2/access_token/",
             json=ok(code=40110, message="Auth code is invalid or expired."))

    with pytest.raises(Permanent) as caught:
        tiktok.exchange_code(code="auth-code-1", redirect_uri="https://app.test/cb")

    assert type(caught.value) is Permanent
    assert "Auth code is invalid or expired." in caught.value.message
    assert caught.value.partner_code == 40110
    assert APP_SECRET not in str(caught.value)


def test_exchange_code_answer_without_token_is_garbage(tiktok, api):
    api.post(BASE + "oauth2/access_token/", json=ok({"advertiser_ids": []}))

    with pytest.raises(Transient, match="garbage"):
        tiktok.exchange_code(code="auth-code-1", redirect_uri="https://app.test/cb")


def test_revoke_posts_app_credentials_and_token_in_the_body(tiktok, api, rate_calls):
    api.post(BASE + "oauth2/revoke_token/", json=ok())

    tiktok.revoke(credentials=CREDS)

    method, path, _, headers, body = sent(api)
    assert (method, path) == ("POST", "/open_api/v1.3/oauth2/revoke_token/")
    assert body == {"app_id": APP_ID, "secret": APP_SECRET, "access_token": TOKEN}
    assert rate_calls == [("tiktok:app", 50.0, 0)]


def test_refresh_is_not_possible(tiktok):
    with pytest.raises(Permanent, match="cannot be refreshed"):
        tiktok.refresh(refresh_token="anything")


# --- accounts and audiences ---------------------------------------------------------------


def test_list_ad_accounts_sends_app_credentials_in_the_query_and_token_in_access_token(
    tiktok, api, rate_calls
):
    api.get(BASE + "oauth2/advertiser/get/", json=ok({"list": [
        {"advertiser_id": 7001, "advertiser_name": "Shop US"},
        {"advertiser_id": "7002", "advertiser_name": "Shop EU"},
    ]}))

    accounts = tiktok.list_ad_accounts(credentials=CREDS)

    method, path, query, headers, body = sent(api)
    assert (method, path, body) == ("GET", "/open_api/v1.3/oauth2/advertiser/get/", None)
    assert query == {"app_id": APP_ID, "secret": APP_SECRET}
    assert headers["Access-Token"] == TOKEN
    assert "Authorization" not in headers
    assert [(a.id, a.name) for a in accounts] == [("7001", "Shop US"), ("7002", "Shop EU")]
    assert rate_calls == [("tiktok:app", 50.0, 0)]


def test_list_audiences_reads_every_page_and_marks_non_streaming_audiences(
    tiktok, api, rate_calls
):
    def page(number, items):
        return ok({"list": items, "page_info": {
            "page": number, "page_size": 100, "total_number": 201, "total_page": 3}})

    api.get(BASE + "dmp/custom_audience/list/", json=page(1, [
        {"audience_id": 11, "name": "Buyers", "cover_num": 5200,
         "audience_type": "Partner Audience"},
    ]))
    api.get(BASE + "dmp/custom_audience/list/", json=page(2, [
        {"audience_id": "12", "name": "CRM upload", "cover_num": 0,
         "audience_type": "Customer File Audience"},
    ]))
    api.get(BASE + "dmp/custom_audience/list/", json=page(3, [
        {"audience_id": 13, "name": "New", "cover_num": 0, "audience_type": "Partner Audience"},
    ]))

    audiences = tiktok.list_audiences(credentials=CREDS, ad_account_id=ADVERTISER)

    assert [sent(api, i)[2] for i in range(3)] == [
        {"advertiser_id": ADVERTISER, "page": str(n), "page_size": "100"} for n in (1, 2, 3)
    ]
    assert {sent(api, i)[1] for i in range(3)} == {"/open_api/v1.3/dmp/custom_audience/list/"}
    assert all(sent(api, i)[3]["Access-Token"] == TOKEN for i in range(3))
    buyers, crm, new = audiences
    assert (buyers.id, buyers.name, buyers.size, buyers.syncable, buyers.kind) == (
        "11", "Buyers", 5200, True, "Partner Audience")
    assert (crm.id, crm.syncable, crm.size) == ("12", False, None)
    assert crm.reason == ("Only TikTok partner (streaming) audiences can be synced; "
                          "this is a Customer File Audience.")
    assert (new.size, new.syncable, new.reason) == (None, True, "")
    assert rate_calls == [("tiktok:app", 50.0, n) for n in range(3)]


def test_create_audience_posts_create_and_returns_the_new_streaming_audience(tiktok, api):
    api.post(BASE + "segment/audience/", json=ok({"audience_id": 9001}))

    audience = tiktok.create_audience(credentials=CREDS, ad_account_id=ADVERTISER,
                                      name="Cart abandoners", match_fields=["email"])

    method, path, _, headers, body = sent(api)
    assert (method, path) == ("POST", "/open_api/v1.3/segment/audience/")
    assert body == {"advertiser_id": ADVERTISER, "action": "create",
                    "custom_audience_name": "Cart abandoners"}
    assert headers["Access-Token"] == TOKEN
    assert (audience.id, audience.name, audience.syncable) == ("9001", "Cart abandoners", True)


def test_create_audience_cuts_long_names_as_tiktok_does(tiktok, api):
    api.post(BASE + "segment/audience/", json=ok({"audience_id": 9001}))

    audience = tiktok.create_audience(credentials=CREDS, ad_account_id=ADVERTISER,
                                      name="x" * 80, match_fields=["email"])

    assert sent(api)[4]["custom_audience_name"] == "x" * 67 + "..."
    assert audience.name == "x" * 67 + "..."


def test_a_long_name_keeps_its_creation_marker_whole_and_is_found_by_it(tiktok, api):
    marked = tiktok.audience_name_marked(name="x" * 80, marker="3f9c2a")
    assert marked == "x" * 61 + " (3f9c2a)" and len(marked) == 70  # nothing left for TikTok to cut
    api.get(BASE + "dmp/custom_audience/list/", json=ok({"list": [
        {"audience_id": 11, "name": "x" * 61 + " (000000)", "audience_type": "Partner Audience"},
        {"audience_id": 12, "name": marked, "audience_type": "Partner Audience"},
    ], "page_info": {"page": 1, "total_page": 1}}))

    found = tiktok.audience_find(credentials=CREDS, ad_account_id=ADVERTISER, name=marked)

    assert found.id == "12"


def test_create_audience_refusal_at_the_audience_limit_says_so(tiktok, api):
    api.post(BASE + "segment/audience/",
             json=ok(code=40002, message="The number of audiences exceeds the limit."))

    with pytest.raises(Permanent) as caught:
        tiktok.create_audience(credentials=CREDS, ad_account_id=ADVERTISER, name="Buyers",
                               match_fields=["email"])

    assert "TikTok refused to create the audience 'Buyers'" in caught.value.message
    assert "exceeds the limit" in caught.value.message
    assert "at most 400 audiences" in caught.value.message


def test_delete_audience_posts_delete(tiktok, api, rate_calls):
    api.post(BASE + "segment/audience/", json=ok())

    tiktok.delete_audience(credentials=CREDS, ad_account_id=ADVERTISER, audience_id="9001")

    method, path, _, _, body = sent(api)
    assert (method, path) == ("POST", "/open_api/v1.3/segment/audience/")
    assert body == {"advertiser_id": ADVERTISER, "action": "delete", "delete_audience_id": "9001"}
    assert rate_calls == [("tiktok:app", 50.0, 0)]


# --- users -----------------------------------------------------------------------------------


def test_send_users_aligns_every_user_with_id_schema_and_keeps_missing_ids_as_empty(
    tiktok, api, rate_calls
):
    api.post(BASE + "segment/mapping/", json=ok(request_id="req-77"))
    rows = [
        {"email": H["email"], "phone": H["phone"], "gaid": H["gaid"]},
        {"phone": H["phone"]},
        {"email": H["email"], "gaid": H["gaid"]},
    ]

    result = tiktok.send_users(
        credentials=CREDS, ad_account_id=ADVERTISER, audience_id="900", action="add",
        match_fields=["phone", "email", "gaid"], rows=rows,
    )

    method, path, _, headers, body = sent(api)
    assert (method, path) == ("POST", "/open_api/v1.3/segment/mapping/")
    assert headers["Access-Token"] == TOKEN
    assert headers["Content-Type"] == "application/json"
    assert isinstance(api.calls[0].request.body, bytes)

    def cell(field):
        return {"id": H[field], "audience_ids": ["900"]}

    assert body == {
        "advertiser_ids": [ADVERTISER],
        "action": "add",
        "id_schema": ["PHONE_SHA256", "EMAIL_SHA256", "AAID_SHA256"],
        "batch_data": [
            [cell("phone"), cell("email"), cell("gaid")],
            [cell("phone"), {}, {}],
            [{}, cell("email"), cell("gaid")],
        ],
    }
    assert (result.request_id, result.accepted) == ("req-77", 3)
    assert rate_calls == [("tiktok:app", 50.0, 0)]


def test_send_users_remove_is_tiktoks_delete_and_idfa_is_idfa_sha256(tiktok, api):
    api.post(BASE + "segment/mapping/", json=ok())

    tiktok.send_users(
        credentials=CREDS, ad_account_id=ADVERTISER, audience_id="900", action="remove",
        match_fields=["idfa"], rows=[{"idfa": H["idfa"]}],
    )

    body = sent(api)[4]
    assert body["action"] == "delete"
    assert body["id_schema"] == ["IDFA_SHA256"]
    assert body["batch_data"] == [[{"id": H["idfa"], "audience_ids": ["900"]}]]


def test_send_users_leaves_out_users_without_any_identifier(tiktok, api):
    api.post(BASE + "segment/mapping/", json=ok())

    result = tiktok.send_users(
        credentials=CREDS, ad_account_id=ADVERTISER, audience_id="900", action="add",
        match_fields=["email"], rows=[{"email": H["email"]}, {"phone": H["phone"]}],
    )

    assert sent(api)[4]["batch_data"] == [[{"id": H["email"], "audience_ids": ["900"]}]]
    assert (result.accepted, result.details) == (1, {"skipped_without_identifier": 1})


def test_send_users_sends_a_full_batch_in_one_request(tiktok, api):
    api.post(BASE + "segment/mapping/", json=ok())
    rows = [{"email": f"{n:064x}"} for n in range(10_000)]

    result = tiktok.send_users(credentials=CREDS, ad_account_id=ADVERTISER, audience_id="900",
                               action="add", match_fields=["email"], rows=rows)

    assert len(sent(api)[4]["batch_data"]) == 10_000
    assert result.accepted == 10_000


def test_send_users_over_the_batch_limit_is_refused_before_any_request(tiktok, api, settings):
    settings.TIKTOK_MAX_BATCH = 2
    with pytest.raises(BatchTooLarge):
        tiktok.send_users(credentials=CREDS, ad_account_id=ADVERTISER, audience_id="900",
                          action="add", match_fields=["email"],
                          rows=[{"email": H["email"]}] * 3)
    assert len(api.calls) == 0


def test_partial_success_is_success(tiktok, api):
    api.post(BASE + "segment/mapping/", json=ok(code=20001, message="Partial success."))

    result = mapping_call(tiktok)

    assert result.accepted == 1
    assert result.details == {"partial_success": "Partial success."}


# --- answer mapping ---------------------------------------------------------------------------

CODE_MAPPING = [
    (40100, "Requests are too frequent (app).", RateLimited),
    (40133, "Requests are too frequent (advertiser).", RateLimited),
    (40001, "No permission to operate advertiser.", InvalidToken),
    (40102, "Access token has expired.", InvalidToken),
    (40104, "Access token is missing.", InvalidToken),
    (40105, "Access token is invalid or has been revoked.", InvalidToken),
    (40007, "Audience does not exist.", AudienceGone),
    (50000, "System error.", Transient),
    (50002, "System busy, please retry later.", Transient),
    (60001, "System under maintenance.", Transient),
    (40202, "Write conflict, please retry.", Transient),
    (40002, "Audience is not editable while it is being processed.", Transient),
    (40002, "advertiser_ids: invalid value.", Permanent),
    (40000, "Bad parameters.", Permanent),
    (40011, "Too many ids in one request.", BatchTooLarge),
    (40110, "Auth code is invalid.", Permanent),
]


@pytest.mark.parametrize(("code", "message", "error_class"), CODE_MAPPING)
def test_every_answer_code_maps_to_what_the_product_does_next(
    tiktok, api, code, message, error_class
):
    api.post(BASE + "segment/mapping/", json=ok(code=code, message=message, request_id="rq-9"))

    with pytest.raises(PartnerError) as caught:
        mapping_call(tiktok)

    error = caught.value
    assert type(error) is error_class
    assert message in error.message
    assert (error.partner_code, error.request_id) == (code, "rq-9")
    if error_class is RateLimited:
        assert error.retry_after is None  # TikTok never says when


@pytest.mark.parametrize(("status", "error_class"), [
    (500, Transient), (502, Transient), (503, Transient), (504, Transient),
    (404, Permanent), (400, Permanent), (429, RateLimited),
])
def test_an_http_error_status_means_the_request_never_reached_the_api(
    tiktok, api, status, error_class
):
    api.post(BASE + "segment/mapping/", status=status, body="<html>gateway</html>")

    with pytest.raises(PartnerError) as caught:
        mapping_call(tiktok)

    assert type(caught.value) is error_class
    assert caught.value.http_status == status
    assert f"HTTP {status}" in caught.value.message


def test_a_redirect_is_not_followed_with_the_token(tiktok, api):
    api.post(BASE + "segment/mapping/", status=302,
             headers={"Location": "https://elsewhere.test/steal"})

    with pytest.raises(Permanent):
        mapping_call(tiktok)

    assert len(api.calls) == 1


@pytest.mark.parametrize("body", [
    b"<html><body>502 Bad Gateway</body></html>",
    b'{"code": 0, "message": "OK", "data": {"lis',
    b'["not", "an", "object"]',
    b'{"message": "OK", "data": {}}',
    b'{"code": "0", "message": "OK"}',
    b'{"code": 0, "message": "OK", "data": ["x"]}',
    b"",
])
def test_a_shapeless_answer_is_transient_garbage(tiktok, api, body):
    api.post(BASE + "segment/mapping/", body=body, status=200)

    with pytest.raises(Transient) as caught:
        mapping_call(tiktok)

    assert "answered garbage" in caught.value.message
    assert "HTTP 200" in caught.value.message


def test_list_without_a_list_is_garbage(tiktok, api):
    api.get(BASE + "oauth2/advertiser/get/", json=ok({"items": []}))

    with pytest.raises(Transient, match="garbage"):
        tiktok.list_ad_accounts(credentials=CREDS)


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout,
    requests.exceptions.ConnectionError,
])
def test_timeouts_and_connection_errors_are_transient_without_secret_or_query(
    tiktok, api, failure
):
    # requests puts the full URL, query and all, into its exception text.
    leaky_url = f"{BASE}oauth2/advertiser/get/?app_id={APP_ID}&secret={APP_SECRET}"
    api.get(BASE + "oauth2/advertiser/get/", body=failure(f"Max retries exceeded: {leaky_url}"))

    with pytest.raises(Transient) as caught:
        tiktok.list_ad_accounts(credentials=CREDS)

    rendered = "".join(traceback.format_exception(caught.value))
    assert "oauth2/advertiser/get/" in rendered
    for secret in (APP_SECRET, TOKEN, "?app_id", "secret="):
        assert secret not in rendered


def test_the_timeout_setting_goes_with_every_request(tiktok, api, settings):
    settings.PARTNER_HTTP_TIMEOUT = 3.25
    api.get(BASE + "oauth2/advertiser/get/", json=ok({"list": []}))

    tiktok.list_ad_accounts(credentials=CREDS)

    assert api.calls[0].request.req_kwargs["timeout"] == 3.25


def test_partner_messages_and_garbage_never_echo_token_or_secret(tiktok, api):
    api.post(BASE + "segment/mapping/",
             json=ok(code=40105, message=f"Access token {TOKEN} is invalid."))
    api.post(BASE + "segment/mapping/", status=200,
             body=f"<html>app secret {APP_SECRET}, token {TOKEN}</html>")

    with pytest.raises(InvalidToken) as refused:
        mapping_call(tiktok)
    with pytest.raises(Transient) as garbage:
        mapping_call(tiktok)

    for error in (refused.value, garbage.value):
        assert TOKEN not in str(error)
        assert APP_SECRET not in str(error)
    assert "is invalid" in refused.value.message


def test_logs_hold_no_secret(tiktok, api, caplog):
    caplog.set_level(logging.DEBUG)
    api.get(BASE + "oauth2/advertiser/get/", json=ok({"list": []}))
    api.get(BASE + "oauth2/advertiser/get/", body=requests.exceptions.ConnectionError(
        f"{BASE}oauth2/advertiser/get/?app_id={APP_ID}&secret={APP_SECRET}"))

    tiktok.list_ad_accounts(credentials=CREDS)
    with pytest.raises(Transient):
        tiktok.list_ad_accounts(credentials=CREDS)

    assert caplog.text.count("oauth2/advertiser/get/") >= 2  # the calls were logged
    assert APP_SECRET not in caplog.text
    assert TOKEN not in caplog.text


def test_the_rate_limit_is_read_at_call_time(tiktok, api, rate_calls, settings):
    settings.TIKTOK_RATE_PER_S = 10.0
    api.post(BASE + "segment/mapping/", json=ok())

    mapping_call(tiktok)

    assert rate_calls == [("tiktok:app", 10.0, 0)]


def test_descriptor(tiktok, settings):
    settings.TIKTOK_MAX_AUDIENCES = 123
    assert (tiktok.key, tiktok.name, tiktok.rate_scope) == ("tiktok", "TikTok", "app")
    assert tiktok.match_field_types == {"email": "EMAIL_SHA256", "phone": "PHONE_SHA256",
                                        "idfa": "IDFA_SHA256", "gaid": "AAID_SHA256"}
    assert tiktok.max_audiences_per_ad_account == 123
    assert tiktok.max_batch == 10_000
    assert tiktok.rate_key(CREDS) == "tiktok:app"
