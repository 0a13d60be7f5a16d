"""What the TikTok client sends, and what it makes of TikTok's own answers.

The contract every partner keeps is in ``test_partner_contract.py``.
"""

import pytest

from partners.base import AudienceRef, PartnerError, Permanent, RateLimited, Transient
from partners.tiktok import TikTok

from .contract import KITS, H, sent
from .contract import tiktok_ok as ok

KIT = KITS["tiktok"]
BASE, APP_ID, APP_SECRET, TOKEN = KIT.base, KIT.app_id, KIT.app_secret, KIT.token
CREDS = KIT.credentials
ADVERTISER = KIT.ad_account


@pytest.fixture
def tiktok():
    return TikTok()


def to_audience(audience_id="900"):
    return AudienceRef(ad_account_id=ADVERTISER, audience_id=audience_id)


def mapping_call(tiktok):
    return KIT.send(tiktok)


# --- OAuth -------------------------------------------------------------------------------


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
        credentials=CREDS, audience=to_audience(), action="add",
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
        credentials=CREDS, audience=to_audience(), action="remove",
        match_fields=["idfa"], rows=[{"idfa": H["idfa"]}],
    )

    body = sent(api)[4]
    assert body["action"] == "delete"
    assert body["id_schema"] == ["IDFA_SHA256"]
    assert body["batch_data"] == [[{"id": H["idfa"], "audience_ids": ["900"]}]]


def test_send_users_leaves_out_users_without_any_identifier(tiktok, api):
    api.post(BASE + "segment/mapping/", json=ok())

    result = tiktok.send_users(
        credentials=CREDS, audience=to_audience(), action="add",
        match_fields=["email"], rows=[{"email": H["email"]}, {"phone": H["phone"]}],
    )

    assert sent(api)[4]["batch_data"] == [[{"id": H["email"], "audience_ids": ["900"]}]]
    assert (result.accepted, result.details) == (1, {"skipped_without_identifier": 1})


def test_send_users_sends_a_full_batch_in_one_request(tiktok, api):
    api.post(BASE + "segment/mapping/", json=ok())
    rows = [{"email": f"{n:064x}"} for n in range(10_000)]

    result = tiktok.send_users(credentials=CREDS, audience=to_audience(),
                               action="add", match_fields=["email"], rows=rows)

    assert len(sent(api)[4]["batch_data"]) == 10_000
    assert result.accepted == 10_000


def test_partial_success_is_success(tiktok, api):
    api.post(BASE + "segment/mapping/", json=ok(code=20001, message="Partial success."))

    result = mapping_call(tiktok)

    assert result.accepted == 1
    assert result.details == {"partial_success": "Partial success."}


# --- answer mapping ---------------------------------------------------------------------------


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


def test_descriptor(tiktok, settings):
    settings.TIKTOK_MAX_AUDIENCES = 123
    assert (tiktok.key, tiktok.name, tiktok.rate_scope) == ("tiktok", "TikTok", "app")
    assert tiktok.match_field_types == {"email": "EMAIL_SHA256", "phone": "PHONE_SHA256",
                                        "idfa": "IDFA_SHA256", "gaid": "AAID_SHA256"}
    assert tiktok.max_audiences_per_ad_account == 123
    assert tiktok.max_batch == 10_000
    assert tiktok.rate_key(42) == "tiktok:app"
