"""Contract tests: what the Pinterest client sends, and what it makes of every answer."""

import base64
import logging
import traceback
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
import requests
import responses
import time_machine

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
from partners.pinterest import Pinterest

BASE = "https://pinterest.test/v5/"
CLIENT_ID = "pin-client-1234"
CLIENT_SECRET = "pinterest-client-secret-QRS-654"
TOKEN = "pina_access-token-0123456789abcdef"
CREDS = Credentials(access_token=TOKEN, connection_id=42)
ACCOUNT = "549755885175"
LISTS = f"{BASE}ad_accounts/{ACCOUNT}/customer_lists"
AUDIENCES = f"{BASE}ad_accounts/{ACCOUNT}/audiences"
H = {name: name[0] * 64 for name in ("email", "phone", "idfa", "gaid")}  # fake SHA-256 hashes
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinterest_settings(settings):
    settings.PINTEREST_API_BASE_URL = BASE
    settings.PINTEREST_AUTHORIZE_URL = "https://pinterest.test/oauth/"
    settings.PINTEREST_CLIENT_ID = CLIENT_ID
    settings.PINTEREST_CLIENT_SECRET = CLIENT_SECRET
    settings.PINTEREST_RATE_PER_S = 7.0
    settings.PINTEREST_MAX_BATCH = 1_900
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
def pinterest():
    return Pinterest()


def sent(mock, index=0):
    """The request as sent: method, path, query, headers, JSON body."""
    request = mock.calls[index].request
    parts = urlsplit(request.url)
    is_json = request.headers.get("Content-Type") == "application/json"
    body = orjson.loads(request.body) if is_json else None
    return request.method, parts.path, dict(parse_qsl(parts.query)), request.headers, body


def sent_form(mock, index=0):
    return dict(parse_qsl(mock.calls[index].request.body))


def add_users(pinterest, *, audience_id="77", match_fields=("email",), rows=None, action="add"):
    return pinterest.send_users(
        credentials=CREDS, ad_account_id=ACCOUNT, audience_id=audience_id, action=action,
        match_fields=list(match_fields), rows=rows or [{"email": H["email"]}],
        audience_name="Cart abandoners",
    )


# --- OAuth -------------------------------------------------------------------------------


def test_authorize_url_asks_for_ads_read_and_write(pinterest):
    url = pinterest.authorize_url(state="st-1", redirect_uri="https://app.test/cb/pinterest/")

    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("pinterest.test", "/oauth/")
    assert dict(parse_qsl(parts.query)) == {
        "client_id": CLIENT_ID, "redirect_uri": "https://app.test/cb/pinterest/",
        "response_type": "code", "scope": "ads:read,ads:write", "state": "st-1",
    }


@time_machine.travel(NOW, tick=False)
def test_exchange_code_posts_a_form_with_basic_auth_and_computes_expiries(
    pinterest, api, rate_calls
):
    api.post(BASE + "oauth/token", json={
        "access_token": "pina_new", "token_type": "bearer", "expires_in": 2_592_000,
        "scope": "ads:read,ads:write", "refresh_token": "pinr_new",
        "refresh_token_expires_in": 5_184_000, "refresh_token_expires_at": 1_777_777_777,
    })

    tokens = pinterest.exchange_code(code="code-1", redirect_uri="https://app.test/cb")

    method, path, query, headers, _ = sent(api)
    assert (method, path, query) == ("POST", "/v5/oauth/token", {})
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert headers["Authorization"] == f"Basic {basic}"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent_form(api) == {"grant_type": "authorization_code", "code": "code-1",
                              "redirect_uri": "https://app.test/cb"}
    assert (tokens.access_token, tokens.refresh_token) == ("pina_new", "pinr_new")
    assert tokens.expires_at == NOW + timedelta(days=30)
    assert tokens.refresh_expires_at == NOW + timedelta(days=60)
    assert tokens.scope == "ads:read,ads:write"
    assert rate_calls == []  # no connection yet: outside every rate budget


@time_machine.travel(NOW, tick=False)
def test_refresh_posts_the_refresh_token_and_keeps_it_when_no_new_one_comes(pinterest, api):
    api.post(BASE + "oauth/token", json={
        "access_token": "pina_2", "expires_in": 3600, "refresh_token_expires_at": 1_790_000_000,
    })

    tokens = pinterest.refresh(refresh_token="pinr_old")

    assert sent_form(api) == {"grant_type": "refresh_token", "refresh_token": "pinr_old"}
    assert sent(api)[3]["Authorization"].startswith("Basic ")
    assert tokens.refresh_token == "pinr_old"
    assert tokens.expires_at == NOW + timedelta(hours=1)
    assert tokens.refresh_expires_at == datetime.fromtimestamp(1_790_000_000, tz=UTC)


@pytest.mark.parametrize("status", [400, 401])
def test_a_refused_refresh_invalidates_the_connection(pinterest, api, status):
    api.post(BASE + "oauth/token", status=status,
             json={"code": 2, "message": "Invalid refresh token."})

    with pytest.raises(InvalidToken, match="Invalid refresh token"):
        pinterest.refresh(refresh_token="pinr_old")


def test_token_errors_never_carry_the_client_secret(pinterest, api):
    api.post(BASE + "oauth/token", status=400,
             json={"code": 1, "message": f"Bad client {CLIENT_ID}:{CLIENT_SECRET}"})

    with pytest.raises(Permanent) as caught:
        pinterest.exchange_code(code="code-1", redirect_uri="https://app.test/cb")

    assert CLIENT_SECRET not in str(caught.value)


# --- accounts and audiences ---------------------------------------------------------------


def test_list_ad_accounts_follows_bookmarks_with_bearer_token(pinterest, api, rate_calls):
    api.get(BASE + "ad_accounts", json={"items": [
        {"id": "1", "name": "Shop US", "currency": "USD", "country": "US"}], "bookmark": "b1"})
    api.get(BASE + "ad_accounts", json={"items": [
        {"id": "2", "name": "Shop FR", "currency": "EUR", "country": "FR"}], "bookmark": "b2"})
    api.get(BASE + "ad_accounts", json={"items": [{"id": "3", "name": "Shop DE"}],
                                        "bookmark": None})

    accounts = pinterest.list_ad_accounts(credentials=CREDS)

    assert [sent(api, i)[2] for i in range(3)] == [
        {"page_size": "250"}, {"page_size": "250", "bookmark": "b1"},
        {"page_size": "250", "bookmark": "b2"},
    ]
    for i in range(3):
        method, path, _, headers, _ = sent(api, i)
        assert (method, path) == ("GET", "/v5/ad_accounts")
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert "Access-Token" not in headers
    assert [(a.id, a.name, a.currency, a.country) for a in accounts] == [
        ("1", "Shop US", "USD", "US"), ("2", "Shop FR", "EUR", "FR"), ("3", "Shop DE", "", ""),
    ]
    assert rate_calls == [("pinterest:connection-42", 7.0, n) for n in range(3)]


def test_list_audiences_are_the_customer_lists_of_the_ad_account(pinterest, api):
    api.get(LISTS, json={"items": [
        {"id": "101", "name": "Buyers", "list_type": "EMAIL", "status": "READY"}],
        "bookmark": "b1"})
    api.get(LISTS, json={"items": [
        {"id": "102", "name": "App users", "list_type": "MAID", "status": "TOO_SMALL"}]})

    audiences = pinterest.list_audiences(credentials=CREDS, ad_account_id=ACCOUNT)

    assert sent(api, 0)[1] == f"/v5/ad_accounts/{ACCOUNT}/customer_lists"
    assert sent(api, 1)[2] == {"page_size": "250", "bookmark": "b1"}
    assert [(a.id, a.name, a.kind, a.syncable) for a in audiences] == [
        ("101", "Buyers", "EMAIL", True), ("102", "App users", "MAID", True),
    ]


def test_a_bookmark_that_repeats_is_garbage_not_an_endless_loop(pinterest, api):
    for _ in range(2):
        api.get(BASE + "ad_accounts", json={"items": [], "bookmark": "same"})

    with pytest.raises(Transient, match="bookmark"):
        pinterest.list_ad_accounts(credentials=CREDS)


def test_create_audience_waits_for_the_first_batch(pinterest, api):
    assert pinterest.create_audience(credentials=CREDS, ad_account_id=ACCOUNT, name="Buyers",
                                     match_fields=["idfa", "gaid"]) is None
    assert len(api.calls) == 0


@pytest.mark.parametrize(("match_fields", "words"), [
    (["email", "idfa"], "one identifier type"),
    (["phone"], "email or mobile ad ids"),
])
def test_create_audience_refuses_match_fields_pinterest_cannot_hold(
    pinterest, match_fields, words
):
    with pytest.raises(Permanent, match=words):
        pinterest.create_audience(credentials=CREDS, ad_account_id=ACCOUNT, name="Buyers",
                                  match_fields=match_fields)


def test_delete_audience_archives_the_audiences_built_on_the_list(pinterest, api, rate_calls):
    api.get(AUDIENCES, json={"items": [
        {"id": "a1", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "101"}},
        {"id": "a2", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "999"}},
    ], "bookmark": "b1"})
    api.get(AUDIENCES, json={"items": [
        {"id": "a3", "audience_type": "ACTALIKE", "rule": {"customer_list_id": "101"}},
        {"id": "a4", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "101"}},
    ]})
    api.patch(f"{AUDIENCES}/a1", json={"id": "a1"})
    api.patch(f"{AUDIENCES}/a4", json={"id": "a4"})

    pinterest.delete_audience(credentials=CREDS, ad_account_id=ACCOUNT, audience_id="101")

    assert [sent(api, i)[:2] for i in range(4)] == [
        ("GET", f"/v5/ad_accounts/{ACCOUNT}/audiences"),
        ("GET", f"/v5/ad_accounts/{ACCOUNT}/audiences"),
        ("PATCH", f"/v5/ad_accounts/{ACCOUNT}/audiences/a1"),
        ("PATCH", f"/v5/ad_accounts/{ACCOUNT}/audiences/a4"),
    ]
    assert sent(api, 2)[4] == sent(api, 3)[4] == {"operation_type": "REMOVE"}
    assert len(rate_calls) == 4


# --- users -----------------------------------------------------------------------------------


def test_first_batch_creates_the_list_with_its_records_then_the_audience(
    pinterest, api, rate_calls
):
    api.post(LISTS, json={"id": "101", "name": "Cart abandoners"},
             headers={"x-request-id": "rq-1"})
    api.post(AUDIENCES, json={"id": "a1", "audience_type": "CUSTOMER_LIST"})
    rows = [{"email": H["email"]}, {"email": "e" * 63 + "1", "phone": H["phone"]}]

    result = add_users(pinterest, audience_id="", match_fields=["email", "phone"], rows=rows)

    method, path, _, headers, body = sent(api, 0)
    assert (method, path) == ("POST", f"/v5/ad_accounts/{ACCOUNT}/customer_lists")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert body == {"name": "Cart abandoners", "records": f"{H['email']},{'e' * 63}1",
                    "list_type": "EMAIL"}
    method, path, _, _, body = sent(api, 1)
    assert (method, path) == ("POST", f"/v5/ad_accounts/{ACCOUNT}/audiences")
    assert body == {"name": "Cart abandoners", "audience_type": "CUSTOMER_LIST",
                    "rule": {"customer_list_id": "101"}}
    assert (result.created_audience_id, result.accepted, result.request_id) == ("101", 2, "rq-1")
    assert rate_calls == [("pinterest:connection-42", 7.0, 0), ("pinterest:connection-42", 7.0, 1)]


def test_a_first_batch_whose_audience_fails_tells_the_list_it_made_and_a_retry_completes_it(
    pinterest, api
):
    api.post(LISTS, json={"id": "101"})
    api.post(AUDIENCES, status=503, json={"code": 3, "message": "Service unavailable."})

    with pytest.raises(Transient) as raised:
        add_users(pinterest, audience_id="")
    assert raised.value.created_audience_id == "101"

    api.patch(f"{LISTS}/101", json={"id": "101"})
    api.get(AUDIENCES, json={"items": [], "bookmark": None})  # the failed one made nothing
    api.post(AUDIENCES, json={"id": "a1"})
    result = pinterest.send_users(
        credentials=CREDS, ad_account_id=ACCOUNT, audience_id="101", action="add",
        match_fields=["email"], rows=[{"email": H["email"]}], audience_name="Cart abandoners",
        audience_pending=True)

    assert [sent(api, i)[:2] for i in range(2, 5)] == [
        ("PATCH", f"/v5/ad_accounts/{ACCOUNT}/customer_lists/101"),
        ("GET", f"/v5/ad_accounts/{ACCOUNT}/audiences"),
        ("POST", f"/v5/ad_accounts/{ACCOUNT}/audiences")]
    assert sent(api, 4)[4]["rule"] == {"customer_list_id": "101"}
    assert (result.created_audience_id, result.accepted) == ("101", 1)


def test_a_retried_first_batch_adopts_the_list_and_audience_an_earlier_attempt_made(
    pinterest, api
):
    """The earlier attempt's answer was lost (say, with a dropped database connection)."""
    name = "Cart abandoners (3f9c2a)"
    api.get(LISTS, json={"items": [{"id": "100", "name": "Cart abandoners (other)"},
                                   {"id": "101", "name": name}], "bookmark": None})
    api.patch(f"{LISTS}/101", json={"id": "101"})
    api.get(AUDIENCES, json={"items": [
        {"id": "a0", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "100"}},
        {"id": "a1", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "101"}},
    ], "bookmark": None})

    result = pinterest.send_users(
        credentials=CREDS, ad_account_id=ACCOUNT, audience_id="", action="add",
        match_fields=["email"], rows=[{"email": H["email"]}], audience_name=name,
        audience_pending=True)

    assert [call.request.method for call in api.calls] == ["GET", "PATCH", "GET"]  # no POST
    assert sent(api, 1)[4] == {"operation_type": "ADD", "records": H["email"]}
    assert (result.created_audience_id, result.accepted) == ("101", 1)
    assert result.details["pinterest_audience_id"] == "a1"


def test_a_retried_first_batch_creates_the_list_when_the_earlier_attempt_made_none(
    pinterest, api
):
    api.get(LISTS, json={"items": [{"id": "100", "name": "Newsletter"}], "bookmark": None})
    api.post(LISTS, json={"id": "102"})
    api.post(AUDIENCES, json={"id": "a2"})

    result = pinterest.send_users(
        credentials=CREDS, ad_account_id=ACCOUNT, audience_id="", action="add",
        match_fields=["email"], rows=[{"email": H["email"]}],
        audience_name="Cart abandoners (3f9c2a)", audience_pending=True)

    assert [call.request.method for call in api.calls] == ["GET", "POST", "POST"]
    assert result.created_audience_id == "102"


def test_a_maid_list_takes_one_record_per_user_idfa_first(pinterest, api):
    api.post(LISTS, json={"id": "102"})
    api.post(AUDIENCES, json={"id": "a2"})
    rows = [
        {"idfa": H["idfa"], "gaid": H["gaid"]},
        {"gaid": "9" * 64},
        {"email": H["email"]},
    ]

    result = add_users(pinterest, audience_id="", match_fields=["gaid", "idfa"], rows=rows)

    assert sent(api, 0)[4] == {"name": "Cart abandoners", "records": f"{H['idfa']},{'9' * 64}",
                               "list_type": "MAID"}
    assert (result.accepted, result.details["skipped_without_identifier"]) == (2, 1)


def test_a_remove_before_the_list_exists_calls_nobody(pinterest, api, rate_calls):
    result = add_users(pinterest, audience_id="", action="remove")

    assert result.accepted == 0
    assert result.created_audience_id == ""
    assert len(api.calls) == 0
    assert rate_calls == []


@pytest.mark.parametrize(("action", "operation"), [("add", "ADD"), ("remove", "REMOVE")])
def test_later_batches_patch_the_customer_list(pinterest, api, rate_calls, action, operation):
    api.patch(f"{LISTS}/101", json={"id": "101"}, headers={"x-pinterest-rid": "rid-5"})

    result = add_users(pinterest, audience_id="101", action=action,
                       rows=[{"email": H["email"]}, {"email": "f" * 64}])

    method, path, _, headers, body = sent(api)
    assert (method, path) == ("PATCH", f"/v5/ad_accounts/{ACCOUNT}/customer_lists/101")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body == {"operation_type": operation, "records": f"{H['email']},{'f' * 64}"}
    assert (result.accepted, result.request_id, result.created_audience_id) == (2, "rid-5", "")
    assert rate_calls == [("pinterest:connection-42", 7.0, 0)]


def test_send_users_over_the_batch_limit_is_refused_before_any_request(pinterest, api):
    with pytest.raises(BatchTooLarge):
        add_users(pinterest, rows=[{"email": H["email"]}] * 1_901)
    assert len(api.calls) == 0


# --- answer mapping ---------------------------------------------------------------------------

STATUS_MAPPING = [
    (429, {"code": 8, "message": "Rate limit exceeded."}, RateLimited),
    (401, {"code": 2, "message": "Authentication failed."}, InvalidToken),
    (401, {"code": 3, "message": "Missing scope ads:write."}, InvalidToken),
    (403, {"code": 29, "message": "You are not permitted to access that resource."},
     InvalidToken),
    (403, {"code": 7, "message": "Forbidden for this ad account."}, Permanent),
    (404, {"code": 4161, "message": "Customer list not found."}, AudienceGone),
    (500, {"code": 0, "message": "Internal error."}, Transient),
    (502, {"code": 0, "message": "Bad gateway."}, Transient),
    (503, {"code": 0, "message": "Service unavailable."}, Transient),
    (400, {"code": 1, "message": "Too many records in this request."}, BatchTooLarge),
    (400, {"code": 1, "message": "Invalid parameters: records."}, Permanent),
]


@pytest.mark.parametrize(("status", "answer", "error_class"), STATUS_MAPPING)
def test_every_answer_maps_to_what_the_product_does_next(
    pinterest, api, status, answer, error_class
):
    api.patch(f"{LISTS}/101", status=status, json=answer, headers={"x-request-id": "rq-9"})

    with pytest.raises(PartnerError) as caught:
        add_users(pinterest, audience_id="101")

    error = caught.value
    assert type(error) is error_class
    assert answer["message"] in error.message
    assert (error.http_status, error.partner_code, error.request_id) == (
        status, answer["code"], "rq-9")


@pytest.mark.parametrize(("retry_after", "seconds"), [
    ("12", 12.0), (None, None), ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0), ("soon", None),
])
@time_machine.travel(NOW, tick=False)
def test_rate_limited_honours_retry_after(pinterest, api, retry_after, seconds):
    headers = {"Retry-After": retry_after} if retry_after else {}
    api.patch(f"{LISTS}/101", status=429, json={"code": 8, "message": "Slow down."},
              headers=headers)

    with pytest.raises(RateLimited) as caught:
        add_users(pinterest, audience_id="101")

    assert caught.value.retry_after == seconds


@pytest.mark.parametrize(("status", "body"), [
    (200, b"<html>Welcome to the hotel wifi</html>"),
    (200, b'["not", "an", "object"]'),
    (200, b'{"id": "10'),
    (400, b"<html>400 Bad Request</html>"),
])
def test_a_shapeless_answer_is_transient_garbage(pinterest, api, status, body):
    api.patch(f"{LISTS}/101", status=status, body=body)

    with pytest.raises(Transient) as caught:
        add_users(pinterest, audience_id="101")

    assert "answered garbage" in caught.value.message
    assert f"HTTP {status}" in caught.value.message


def test_a_page_without_items_is_garbage(pinterest, api):
    api.get(BASE + "ad_accounts", json={"data": []})

    with pytest.raises(Transient, match="garbage"):
        pinterest.list_ad_accounts(credentials=CREDS)


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout,
    requests.exceptions.ConnectionError,
])
def test_timeouts_and_connection_errors_are_transient(pinterest, api, failure):
    api.patch(f"{LISTS}/101", body=failure(f"Authorization: Bearer {TOKEN}"))

    with pytest.raises(Transient) as caught:
        add_users(pinterest, audience_id="101")

    rendered = "".join(traceback.format_exception(caught.value))
    assert f"ad_accounts/{ACCOUNT}/customer_lists/101" in rendered
    assert TOKEN not in rendered


def test_the_timeout_setting_goes_with_every_request(pinterest, api, settings):
    settings.PARTNER_HTTP_TIMEOUT = 3.25
    api.patch(f"{LISTS}/101", json={"id": "101"})

    add_users(pinterest, audience_id="101")

    assert api.calls[0].request.req_kwargs["timeout"] == 3.25


def test_errors_and_logs_never_echo_the_token(pinterest, api, caplog):
    caplog.set_level(logging.DEBUG)
    api.patch(f"{LISTS}/101", status=401,
              json={"code": 2, "message": f"Authentication failed for token {TOKEN}."})
    api.patch(f"{LISTS}/101", status=200, body=f"<html>Bearer {TOKEN}</html>")

    with pytest.raises(InvalidToken) as refused:
        add_users(pinterest, audience_id="101")
    with pytest.raises(Transient) as garbage:
        add_users(pinterest, audience_id="101")

    for error in (refused.value, garbage.value):
        assert TOKEN not in str(error)
    assert "Authentication failed" in refused.value.message
    assert "customer_lists/101" in caplog.text  # the calls were logged
    assert TOKEN not in caplog.text


def test_descriptor(pinterest):
    assert (pinterest.key, pinterest.name, pinterest.rate_scope) == (
        "pinterest", "Pinterest", "connection")
    assert pinterest.match_field_types == {"email": "EMAIL", "idfa": "MAID", "gaid": "MAID"}
    assert pinterest.one_identifier_type_per_audience is True
    assert pinterest.creates_audience_on_first_batch is True
    assert (pinterest.max_batch, pinterest.rate_per_s) == (1_900, 7.0)
    assert pinterest.rate_key(CREDS) == "pinterest:connection-42"
