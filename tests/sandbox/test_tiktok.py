"""The TikTok emulator answers like TikTok's Marketing API v1.3 (PARTNER_APIS.md)."""

import time

import pytest
import time_machine

from .conftest import (
    ADVERTISER,
    CUSTOMER_FILE_AUDIENCE,
    OTHER_ADVERTISER,
    STREAMING_AUDIENCE,
    audience_record,
    frozen,
    member_key,
    sha256,
    user_row,
)


def _full_rows(audience_id: str, count: int) -> list[list[dict]]:
    return [user_row(audience_id, email=f"u{n}@example.com", phone=f"+1415{n:07d}",
                     idfa=f"idfa-{n}") for n in range(count)]


# --- paths and envelopes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "dmp/custom_audience/list"), ("post", "segment/mapping"),
     ("post", "oauth2/access_token")],
)
def test_a_path_without_its_trailing_slash_is_a_bare_404_not_a_redirect(
    connected_tiktok, client, method, path
):
    response = getattr(client, method)(
        f"/sandbox/open_api/v1.3/{path}", headers={"Access-Token": connected_tiktok.token}
    )
    assert response.status_code == 404
    assert response.content == b"404 page not found"


def test_every_answer_is_http_200_with_the_envelope(connected_tiktok):
    answer = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)
    assert set(answer) == {"code", "message", "request_id", "data"}
    assert (answer["code"], answer["message"]) == (0, "OK")
    assert answer["request_id"]
    refused = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER,
                                   page_size=101)
    assert refused["code"] == 40002
    assert refused["data"] == {}


# --- tokens ----------------------------------------------------------------------------------


def test_the_token_exchange_answers_token_advertisers_and_scope(tiktok):
    auth_code = tiktok.consent().get("Location").split("auth_code=")[1].split("&")[0]
    data = tiktok.exchange(auth_code)["data"]
    assert data["access_token"]
    assert data["advertiser_ids"] == [ADVERTISER, OTHER_ADVERTISER, "7300000000000000003"]
    assert 3 in data["scope"]


def test_an_auth_code_works_once(tiktok):
    auth_code = tiktok.consent()["Location"].split("auth_code=")[1].split("&")[0]
    assert tiktok.exchange(auth_code)["code"] == 0
    assert tiktok.exchange(auth_code)["code"] == 40110


def test_an_auth_code_expires_after_an_hour(tiktok):
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        early = tiktok.consent()["Location"].split("auth_code=")[1].split("&")[0]
        late = tiktok.consent()["Location"].split("auth_code=")[1].split("&")[0]
        traveller.shift(59 * 60)
        assert tiktok.exchange(early)["code"] == 0
        traveller.shift(2 * 60)
        assert tiktok.exchange(late)["code"] == 40110


def test_a_wrong_app_secret_gets_no_token(tiktok):
    auth_code = tiktok.consent()["Location"].split("auth_code=")[1].split("&")[0]
    assert tiktok.exchange(auth_code, secret="not-the-secret")["code"] == 40001


def test_a_missing_token_is_40104_and_an_unknown_one_40105(tiktok):
    path = "dmp/custom_audience/list/"
    assert tiktok.get(path, token=None, advertiser_id=ADVERTISER)["code"] == 40104
    assert tiktok.get(path, token="f" * 40, advertiser_id=ADVERTISER)["code"] == 40105


def test_a_revoked_token_is_40105(connected_tiktok):
    token = connected_tiktok.token
    refused = connected_tiktok.post("oauth2/revoke_token/", {
        "app_id": "sandbox-tiktok-app", "secret": "wrong", "access_token": token,
    }, token=None)
    assert refused["code"] == 40001
    revoked = connected_tiktok.post("oauth2/revoke_token/", {
        "app_id": "sandbox-tiktok-app", "secret": "sandbox-tiktok-secret", "access_token": token,
    }, token=None)
    assert revoked["code"] == 0
    answer = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)
    assert answer["code"] == 40105


def test_credentials_are_configurable(settings, tiktok):
    settings.SANDBOX_TIKTOK_SECRET = "another-secret"
    auth_code = tiktok.consent()["Location"].split("auth_code=")[1].split("&")[0]
    assert tiktok.exchange(auth_code)["code"] == 40001
    assert tiktok.exchange(auth_code, secret="another-secret")["code"] == 0


# --- ad accounts and audiences -----------------------------------------------------------------


def test_advertiser_get_lists_the_businesss_advertisers(connected_tiktok):
    answer = connected_tiktok.get(
        "oauth2/advertiser/get/", app_id="sandbox-tiktok-app", secret="sandbox-tiktok-secret"
    )
    assert answer["code"] == 0
    advertisers = answer["data"]["list"]
    assert [item["advertiser_id"] for item in advertisers][:2] == [ADVERTISER, OTHER_ADVERTISER]
    assert all(item["advertiser_name"].startswith("Sandbox Coffee Co.") for item in advertisers)
    wrong = connected_tiktok.get("oauth2/advertiser/get/", app_id="sandbox-tiktok-app",
                                 secret="nope")
    assert wrong["code"] == 40001


def test_each_advertiser_has_streaming_and_non_streaming_audiences(connected_tiktok):
    answer = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)
    types = {item["audience_id"]: item["audience_type"] for item in answer["data"]["list"]}
    assert types[STREAMING_AUDIENCE] == "Partner Audience"
    assert types[CUSTOMER_FILE_AUDIENCE] == "Customer File"


def test_a_created_audience_is_listed_with_its_name_cut_to_70_characters(connected_tiktok):
    long_name = "A" * 71
    audience_id = connected_tiktok.create_audience(long_name)
    answer = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)
    item = next(i for i in answer["data"]["list"] if i["audience_id"] == audience_id)
    assert item["name"] == "A" * 67 + "..."
    assert item["audience_type"] == "Partner Audience"
    assert {"cover_num", "is_valid", "create_time"} <= set(item)
    seventy = connected_tiktok.create_audience("B" * 70)
    listed = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)
    assert any(i["audience_id"] == seventy and i["name"] == "B" * 70
               for i in listed["data"]["list"])


def test_the_audience_list_pages(connected_tiktok):
    for n in range(3):
        connected_tiktok.create_audience(f"Audience {n}")
    page_2 = connected_tiktok.get(
        "dmp/custom_audience/list/", advertiser_id=ADVERTISER, page=2, page_size=4
    )["data"]
    assert page_2["page_info"] == {"page": 2, "page_size": 4, "total_number": 6, "total_page": 2}
    assert len(page_2["list"]) == 2
    too_big = connected_tiktok.get(
        "dmp/custom_audience/list/", advertiser_id=ADVERTISER, page_size=101
    )
    assert too_big["code"] == 40002


def test_another_businesss_advertiser_is_40001(connected_tiktok):
    answer = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id="7999999999999999999")
    assert answer["code"] == 40001


def test_a_deleted_audience_is_gone(connected_tiktok):
    audience_id = connected_tiktok.create_audience()
    deleted = connected_tiktok.post("segment/audience/", {
        "advertiser_id": ADVERTISER, "action": "delete", "delete_audience_id": audience_id,
    })
    assert deleted["code"] == 0
    listed = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)
    assert audience_id not in {item["audience_id"] for item in listed["data"]["list"]}
    upload = connected_tiktok.mapping(audience_id, [user_row(audience_id, email="a@b.example")])
    assert upload["code"] == 40007


def test_the_audience_cap_per_advertiser(settings, connected_tiktok):
    settings.SANDBOX_TIKTOK_MAX_AUDIENCES = 5  # the advertiser already owns 3
    first = connected_tiktok.create_audience("one")
    connected_tiktok.create_audience("two")
    refused = connected_tiktok.post("segment/audience/", {
        "advertiser_id": ADVERTISER, "action": "create", "custom_audience_name": "three",
    })
    assert refused["code"] == 40002
    assert "limit of 5" in refused["message"]
    assert connected_tiktok.create_audience("elsewhere", advertiser=OTHER_ADVERTISER)
    connected_tiktok.post("segment/audience/", {
        "advertiser_id": ADVERTISER, "action": "delete", "delete_audience_id": first,
    })
    assert connected_tiktok.create_audience("three")


def test_the_default_audience_cap_is_400(connected_tiktok, control):
    control("limits", tiktok_rate=10_000)
    for n in range(397):
        connected_tiktok.create_audience(f"Audience {n}")
    refused = connected_tiktok.post("segment/audience/", {
        "advertiser_id": ADVERTISER, "action": "create", "custom_audience_name": "one too many",
    })
    assert refused["code"] == 40002
    assert "400" in refused["message"]


# --- users -----------------------------------------------------------------------------------


def test_adds_removes_and_duplicates_are_recorded_per_user(connected_tiktok, record, client):
    audience_id = connected_tiktok.create_audience()
    ana = {"email": "ana@example.com", "phone": "+14155550100"}
    ben = {"email": "ben@example.com", "idfa": "idfa-ben"}
    cid = {"phone": "+14155550102"}
    first = connected_tiktok.mapping(audience_id, [
        user_row(audience_id, **ana), user_row(audience_id, **ben), user_row(audience_id, **ana),
    ])
    assert first["code"] == 0
    assert connected_tiktok.mapping(audience_id, [
        user_row(audience_id, **ben), user_row(audience_id, **cid),
    ])["code"] == 0
    assert connected_tiktok.mapping(audience_id, [
        user_row(audience_id, **ana), user_row(audience_id, email="never@added.example"),
    ], action="delete")["code"] == 0

    counts = audience_record(record(), "tiktok", audience_id)
    assert counts["received_add"] == 5
    assert counts["received_remove"] == 2
    assert counts["duplicate_receipts"] == 2  # ana twice in one request, ben again later
    assert counts["present"] == 2
    members = client.get(f"/sandbox/__sandbox__/audiences/tiktok/{audience_id}/members").json()
    assert members["members"] == sorted([member_key(**ben), member_key(**cid)])
    assert record()["duplicate_receipts"] == 2


def test_a_missing_id_keeps_its_place_and_is_left_out_of_the_member_key(
    connected_tiktok, client
):
    audience_id = connected_tiktok.create_audience()
    row = [{}, {"id": sha256("+14155550100"), "audience_ids": [audience_id]}, {}]
    assert connected_tiktok.mapping(audience_id, [row])["code"] == 0
    members = client.get(f"/sandbox/__sandbox__/audiences/tiktok/{audience_id}/members").json()
    assert members["members"] == [f"PHONE_SHA256:{sha256('+14155550100')}"]


def test_md5_ids_are_accepted_for_their_types(connected_tiktok):
    audience_id = connected_tiktok.create_audience()
    row = [{"id": "0" * 32, "audience_ids": [audience_id]}, {"id": "a" * 64,
                                                             "audience_ids": [audience_id]}]
    answer = connected_tiktok.mapping(audience_id, [row], id_schema=["AAID_MD5", "AAID_SHA256"])
    assert answer["code"] == 0


GOOD = sha256("x")


@pytest.mark.parametrize(
    ("id_schema", "row", "why"),
    [
        (["EMAIL_SHA256", "GAID_SHA256"], [{}, {}], "unknown id type"),
        (["EMAIL_SHA256", "EMAIL_SHA256"], [{}, {}], "duplicate id type"),
        (["EMAIL_SHA256", "PHONE_SHA256"], ["EMAIL"], "row shorter than id_schema"),
        (["EMAIL_SHA256"], ["EMAIL", "EXTRA"], "row longer than id_schema"),
        (["EMAIL_SHA256"], [GOOD.upper()], "upper-case hex"),
        (["EMAIL_SHA256"], [GOOD[:32]], "an MD5-sized id for a SHA-256 type"),
        (["EMAIL_SHA256"], ["ana@example.com"], "an unhashed id"),
        (["EMAIL_SHA256", "PHONE_SHA256"], ["", ""], "a row without any id"),
    ],
)
def test_malformed_uploads_are_40002_and_change_nothing(
    connected_tiktok, record, id_schema, row, why
):
    audience_id = connected_tiktok.create_audience()

    def item(value):
        if value in ("EMAIL", "EXTRA"):
            value = GOOD
        return {"id": value, "audience_ids": [audience_id]} if value else {}

    answer = connected_tiktok.mapping(
        audience_id, [[item(value) for value in row]], id_schema=id_schema
    )
    assert answer["code"] == 40002, why
    assert audience_record(record(), "tiktok", audience_id)["received_add"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"action": "replace"},
        {"batch_data": []},
        {"advertiser_ids": ADVERTISER},
        {"id_schema": []},
    ],
)
def test_bad_parameters_are_40002(connected_tiktok, body):
    audience_id = connected_tiktok.create_audience()
    upload = {
        "advertiser_ids": [ADVERTISER], "action": "add", "id_schema": ["EMAIL_SHA256"],
        "batch_data": [[{"id": GOOD, "audience_ids": [audience_id]}]], **body,
    }
    assert connected_tiktok.post("segment/mapping/", upload)["code"] == 40002


def test_uploads_only_reach_a_live_streaming_audience_of_the_advertiser(connected_tiktok):
    row = user_row(STREAMING_AUDIENCE, email="a@b.example")
    assert connected_tiktok.mapping(STREAMING_AUDIENCE, [row])["code"] == 0
    file_row = user_row(CUSTOMER_FILE_AUDIENCE, email="a@b.example")
    refused = connected_tiktok.mapping(CUSTOMER_FILE_AUDIENCE, [file_row])
    assert refused["code"] == 40007
    assert "Partner Audience" in refused["message"]
    unknown = connected_tiktok.mapping("999999", [user_row("999999", email="a@b.example")])
    assert unknown["code"] == 40007
    elsewhere = connected_tiktok.mapping(STREAMING_AUDIENCE, [row], advertiser=OTHER_ADVERTISER)
    assert elsewhere["code"] == 40007
    not_ours = connected_tiktok.mapping(STREAMING_AUDIENCE, [row], advertiser="7999999999999999999")
    assert not_ours["code"] == 40001


def test_ten_thousand_rows_pass_and_one_more_is_40011(connected_tiktok, record):
    audience_id = connected_tiktok.create_audience()
    rows = _full_rows(audience_id, 10_001)
    refused = connected_tiktok.mapping(audience_id, rows)
    assert refused["code"] == 40011
    assert connected_tiktok.mapping(audience_id, rows[:10_000])["code"] == 0
    after = record()
    assert after["oversize_rejections"] == 1
    assert audience_record(after, "tiktok", audience_id)["present"] == 10_000


def test_the_row_cap_is_configurable(settings, connected_tiktok):
    settings.SANDBOX_TIKTOK_MAX_ROWS = 2
    audience_id = connected_tiktok.create_audience()
    assert connected_tiktok.mapping(audience_id, _full_rows(audience_id, 2))["code"] == 0
    assert connected_tiktok.mapping(audience_id, _full_rows(audience_id, 3))["code"] == 40011


def test_a_lookalike_needs_a_source_of_1000_and_takes_no_users(connected_tiktok):
    control_audience = connected_tiktok.create_audience("small")
    source = connected_tiktok.create_audience("big")
    connected_tiktok.mapping(control_audience, _full_rows(control_audience, 999))
    connected_tiktok.mapping(source, _full_rows(source, 1_000))

    def lookalike(source_id, **spec):
        return connected_tiktok.post("dmp/custom_audience/lookalike/create/", {
            "advertiser_id": ADVERTISER, "custom_audience_name": "Like them",
            "lookalike_spec": {"source_audience_id": source_id, "include_source": False,
                               "mobile_os": "ALL", "placements": ["TIKTOK"],
                               "location_ids": ["6252001"], "audience_size": "BALANCED",
                               **spec}})

    too_small = lookalike(control_audience)
    assert too_small["code"] == 40002 and "too small" in too_small["message"]
    assert lookalike(source, audience_size="HUGE")["code"] == 40002
    assert lookalike(source, location_ids=[])["code"] == 40002
    assert lookalike("999999")["code"] == 40007

    made = lookalike(source)

    assert made["code"] == 0
    lookalike_id = made["data"]["custom_audience_id"]
    listed = connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER,
                                  page_size=100)["data"]["list"]
    item = next(i for i in listed if i["audience_id"] == lookalike_id)
    assert (item["audience_type"], item["is_valid"], item["cover_num"]) == (
        "Lookalike Audience", False, 0)
    refused = connected_tiktok.mapping(lookalike_id, _full_rows(lookalike_id, 1))
    assert refused["code"] == 40007  # only partner audiences take users


# --- rate ------------------------------------------------------------------------------------


def test_fifty_requests_a_second_then_40100(connected_tiktok, record):
    with frozen() as traveller:
        answers = [
            connected_tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)["code"]
            for _ in range(51)
        ]
        assert answers == [0] * 50 + [40100]
        traveller.shift(0.5)
        assert connected_tiktok.get("dmp/custom_audience/list/",
                                    advertiser_id=ADVERTISER)["code"] == 40100
        traveller.shift(0.6)
        assert connected_tiktok.get("dmp/custom_audience/list/",
                                    advertiser_id=ADVERTISER)["code"] == 0
    after = record()
    assert after["rate_limited_responses"] == 2
    assert after["max_requests_per_s"]["tiktok:app"] == 52.0


def test_the_window_slides(settings, connected_tiktok):
    settings.SANDBOX_TIKTOK_RATE = 2
    list_path = "dmp/custom_audience/list/"
    with frozen() as traveller:
        assert connected_tiktok.get(list_path, advertiser_id=ADVERTISER)["code"] == 0
        traveller.shift(0.6)
        assert connected_tiktok.get(list_path, advertiser_id=ADVERTISER)["code"] == 0
        traveller.shift(0.6)  # the first call left the window, the second did not
        assert connected_tiktok.get(list_path, advertiser_id=ADVERTISER)["code"] == 0
        assert connected_tiktok.get(list_path, advertiser_id=ADVERTISER)["code"] == 40100


def test_the_rate_is_the_apps_whatever_the_token(settings, tiktok, client):
    settings.SANDBOX_TIKTOK_RATE = 2
    first = tiktok.connect()
    second = type(tiktok)(client)
    second.connect()
    assert first != second.token
    with frozen():
        assert tiktok.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)["code"] == 0
        assert second.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)["code"] == 0
        assert second.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)["code"] == 40100


def test_the_apps_tier_counts_calls_per_minute_then_per_utc_day(settings, connected_tiktok,
                                                                 record):
    """A made-up tier (2 per minute, 3 per day): the minute refills at the next minute, the
    day at 00:00 UTC, whatever the per-second rate allows."""
    settings.SANDBOX_TIKTOK_RATE_PER_MIN = 2
    settings.SANDBOX_TIKTOK_RATE_PER_DAY = 3
    list_path = "dmp/custom_audience/list/"
    midnight = (time.time() // 86_400 + 1) * 86_400
    with time_machine.travel(midnight - 119.5, tick=False) as traveller:  # 23:58:00.5 UTC
        codes = [connected_tiktok.get(list_path, advertiser_id=ADVERTISER) for _ in range(3)]
        assert [answer["code"] for answer in codes] == [0, 0, 40100]
        assert "600" not in codes[2]["message"] and "2 requests per minute" in codes[2]["message"]
        traveller.shift(60)  # 23:59:00.5: a new minute, one call left today
        assert connected_tiktok.get(list_path, advertiser_id=ADVERTISER)["code"] == 0
        day_spent = connected_tiktok.get(list_path, advertiser_id=ADVERTISER)
        assert day_spent["code"] == 40100
        assert "3 requests per day" in day_spent["message"]
        traveller.shift(60)  # 00:00:00.5 UTC: a new day
        assert connected_tiktok.get(list_path, advertiser_id=ADVERTISER)["code"] == 0
    assert record()["rate_limited_responses"] == 2


def test_token_calls_are_not_rate_limited(settings, tiktok):
    settings.SANDBOX_TIKTOK_RATE = 1
    with frozen():
        tokens = {tiktok.connect() for _ in range(3)}
    assert len(tokens) == 3

