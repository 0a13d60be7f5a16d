"""What the Pinterest client sends, and what it makes of Pinterest's own answers.

The contract every partner keeps is in ``test_partner_contract.py``.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from partners.base import AudienceRef, InvalidToken, Permanent, RateLimited, Transient
from partners.pinterest import Pinterest

from .contract import KITS, NOW, H, sent, sent_form

KIT = KITS["pinterest"]
BASE, CLIENT_ID, CLIENT_SECRET, TOKEN = KIT.base, KIT.client_id, KIT.client_secret, KIT.token
CREDS = KIT.credentials
ACCOUNT = KIT.ad_account
LISTS = f"{BASE}ad_accounts/{ACCOUNT}/customer_lists"
AUDIENCES = f"{BASE}ad_accounts/{ACCOUNT}/audiences"


@pytest.fixture
def pinterest():
    return Pinterest()


def add_users(pinterest, *, audience_id="77", match_fields=("email",), rows=None, action="add",
              name="Cart abandoners", pending=False):
    return pinterest.send_users(
        credentials=CREDS,
        audience=AudienceRef(ad_account_id=ACCOUNT, audience_id=audience_id, name=name,
                             pending=pending),
        action=action, match_fields=list(match_fields), rows=rows or [{"email": H["email"]}],
    )


# --- OAuth -------------------------------------------------------------------------------


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
    result = add_users(pinterest, audience_id="101", pending=True)

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

    result = add_users(pinterest, audience_id="", name=name, pending=True)

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

    result = add_users(pinterest, audience_id="", name="Cart abandoners (3f9c2a)",
                       pending=True)

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


# --- answer mapping ---------------------------------------------------------------------------


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


def test_descriptor(pinterest):
    assert (pinterest.key, pinterest.name, pinterest.rate_scope) == (
        "pinterest", "Pinterest", "connection")
    assert pinterest.match_field_types == {"email": "EMAIL", "idfa": "MAID", "gaid": "MAID"}
    assert pinterest.one_identifier_type_per_audience is True
    assert pinterest.creates_audience_on_first_batch is True
    assert (pinterest.max_batch, pinterest.rate_per_s) == (1_900, 7.0)
    assert pinterest.rate_key(42) == "pinterest:connection-42"
