"""The Pinterest emulator answers like Pinterest's API v5 (PARTNER_APIS.md)."""

import pytest
import time_machine

from .conftest import AD_ACCOUNT, CALLBACK, PinterestClient, audience_record, frozen, query_of, sha256

DAY = 86400
LISTS = f"ad_accounts/{AD_ACCOUNT}/customer_lists"


def _emails(count: int, prefix: str = "user") -> list[str]:
    return [sha256(f"{prefix}{n}@example.com") for n in range(count)]


# --- OAuth -----------------------------------------------------------------------------------


def test_the_code_exchange_answers_pinterests_token_shape(pinterest):
    with time_machine.travel(1_800_000_000, tick=False):
        answer = pinterest.connect()
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 30 * DAY
    assert answer["refresh_token_expires_in"] == 60 * DAY
    assert answer["refresh_token_expires_at"] == 1_800_000_000 + 60 * DAY
    assert answer["scope"] == "ads:read,ads:write"
    assert answer["access_token"].startswith("pina_")
    assert answer["refresh_token"].startswith("pinr_")


def test_a_bad_client_secret_is_401_code_2(pinterest):
    code = query_of(pinterest.consent()["Location"])["code"]
    response = pinterest.token_call(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        secret="wrong",
    )
    assert response.status_code == 401
    assert response.json() == {"code": 2, "message": "Authentication failed."}


def test_a_code_works_once_and_only_with_its_redirect_uri(pinterest):
    code = query_of(pinterest.consent()["Location"])["code"]
    mismatched = pinterest.token_call(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK + "/other"}
    )
    assert mismatched.status_code == 400
    fresh = query_of(pinterest.consent()["Location"])["code"]
    form = {"grant_type": "authorization_code", "code": fresh, "redirect_uri": CALLBACK}
    assert pinterest.token_call(form).status_code == 200
    assert pinterest.token_call(form).status_code == 400


def test_refreshing_gives_a_new_access_token_and_renews_the_refresh_token(pinterest):
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        first = pinterest.connect()
        traveller.shift(50 * DAY)
        refreshed = pinterest.refresh()
        assert refreshed.status_code == 200
        answer = refreshed.json()
        assert answer["access_token"] != first["access_token"]
        assert answer["refresh_token"] == first["refresh_token"]
        assert answer["refresh_token_expires_at"] == 1_800_000_000 + 110 * DAY
        traveller.shift(50 * DAY)  # 100 days in: alive only because it was renewed
        assert pinterest.refresh().status_code == 200


def test_an_unused_refresh_token_dies_after_60_days(pinterest):
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        pinterest.connect()
        traveller.shift(61 * DAY)
        response = pinterest.refresh()
    assert response.status_code == 400


def test_an_access_token_lasts_30_days(pinterest):
    with time_machine.travel(1_800_000_000, tick=False) as traveller:
        pinterest.connect()
        traveller.shift(29 * DAY)
        assert pinterest.call("get", "ad_accounts").status_code == 200
        traveller.shift(2 * DAY)
        expired = pinterest.call("get", "ad_accounts")
    assert expired.status_code == 401
    assert expired.json() == {"code": 2, "message": "Authentication failed."}


def test_the_old_access_token_keeps_working_after_a_refresh(connected_pinterest):
    old = connected_pinterest.token
    assert connected_pinterest.refresh().status_code == 200
    assert connected_pinterest.call("get", "ad_accounts", token=old).status_code == 200


@pytest.mark.parametrize("token", [None, "pina_unknown"])
def test_a_missing_or_unknown_token_is_401_code_2(pinterest, token):
    response = pinterest.call("get", "ad_accounts", token=token)
    assert response.status_code == 401
    assert response.json()["code"] == 2


def test_a_token_without_ads_write_cannot_change_lists(pinterest):
    pinterest.connect(scope="ads:read")
    assert pinterest.call("get", LISTS).status_code == 200
    refused = pinterest.create_list(_emails(3))
    assert refused.status_code == 401
    assert refused.json()["code"] == 3


# --- ad accounts -------------------------------------------------------------------------------


def test_ad_accounts_page_with_a_bookmark(connected_pinterest):
    first = connected_pinterest.call("get", "ad_accounts?page_size=2").json()
    assert [item["id"] for item in first["items"]] == ["549700000001", "549700000002"]
    assert {"id", "name", "owner", "country", "currency", "permissions"} <= set(first["items"][0])
    second = connected_pinterest.call(
        "get", f"ad_accounts?page_size=2&bookmark={first['bookmark']}"
    ).json()
    assert [item["id"] for item in second["items"]] == ["549700000003"]
    assert second["bookmark"] is None


def test_an_ad_account_outside_the_grant_is_403_code_29(connected_pinterest):
    response = connected_pinterest.call("get", "ad_accounts/123456789/customer_lists")
    assert response.status_code == 403
    assert response.json()["code"] == 29


def test_paths_answer_with_or_without_a_trailing_slash(connected_pinterest):
    assert connected_pinterest.call("get", "ad_accounts/").status_code == 200
    assert connected_pinterest.call("get", LISTS + "/").status_code == 200


# --- customer lists --------------------------------------------------------------------------


def test_a_customer_list_counts_every_record_it_receives(connected_pinterest, record, client):
    ana, ben, cid = _emails(3)
    with frozen() as traveller:
        created = connected_pinterest.create_list([ana, ben, ana])
        assert created.status_code == 200
        customer_list = created.json()
        assert customer_list["status"] == "PROCESSING"
        assert customer_list["num_batches"] == 1
        assert customer_list["num_uploaded_user_records"] == 3
        assert customer_list["list_type"] == "EMAIL"
        list_id = customer_list["id"]
        assert connected_pinterest.update_list(list_id, "ADD", [ben, cid]).status_code == 200
        removed = connected_pinterest.update_list(list_id, "REMOVE", [ana, sha256("nobody")])
        assert removed.json()["num_removed_user_records"] == 2
        traveller.shift(10)
        got = connected_pinterest.call("get", f"{LISTS}/{list_id}").json()
    assert got["status"] == "TOO_SMALL"  # under 100 users
    assert (got["num_batches"], got["num_uploaded_user_records"]) == (3, 5)

    counts = audience_record(record(), "pinterest", list_id)
    assert (counts["received_add"], counts["received_remove"]) == (5, 2)
    assert (counts["duplicate_receipts"], counts["present"]) == (2, 2)
    members = client.get(f"/sandbox/__sandbox__/audiences/pinterest/{list_id}/members").json()
    assert members["members"] == sorted([ben, cid])


def test_a_list_of_a_hundred_users_becomes_ready(connected_pinterest):
    with frozen() as traveller:
        list_id = connected_pinterest.create_list(_emails(100)).json()["id"]
        traveller.shift(10)
        got = connected_pinterest.call("get", f"{LISTS}/{list_id}").json()
    assert got["status"] == "READY"


def test_lists_are_listed_with_the_existing_one(connected_pinterest):
    list_id = connected_pinterest.create_list(_emails(2)).json()["id"]
    listed = connected_pinterest.call("get", LISTS).json()
    names = {item["id"]: item["name"] for item in listed["items"]}
    assert names[list_id] == "Canvas list"
    assert "Newsletter subscribers" in names.values()


@pytest.mark.parametrize(
    ("records", "extra"),
    [
        ([], {}),
        ([" ", ""], {}),
        (["Ana@Example.com"], {}),
        (["not-hashed-idfa"], {"list_type": "MAID"}),
        ([sha256("x")], {"list_type": "PHONE"}),
    ],
)
def test_a_bad_create_is_400(connected_pinterest, records, extra):
    response = connected_pinterest.create_list(records, **extra)
    assert response.status_code == 400
    assert response.json()["code"] == 1


def test_plain_lower_case_emails_are_accepted(connected_pinterest):
    assert connected_pinterest.create_list(["ana@example.com"]).status_code == 200


def test_1900_records_pass_and_1901_are_too_many(connected_pinterest, record):
    records = _emails(1901)
    refused = connected_pinterest.create_list(records)
    assert refused.status_code == 400
    assert "too many records" in refused.json()["message"]
    list_id = connected_pinterest.create_list(records[:1900]).json()["id"]
    refused_patch = connected_pinterest.update_list(list_id, "ADD", records)
    assert refused_patch.status_code == 400
    assert "too many records" in refused_patch.json()["message"]
    after = record()
    assert after["oversize_rejections"] == 2
    assert audience_record(after, "pinterest", list_id)["present"] == 1900


def test_the_record_cap_is_configurable(settings, connected_pinterest):
    settings.SANDBOX_PINTEREST_MAX_RECORDS = 2
    assert connected_pinterest.create_list(_emails(3)).status_code == 400
    assert connected_pinterest.create_list(_emails(2)).status_code == 200


def test_an_unknown_list_is_404(connected_pinterest):
    response = connected_pinterest.update_list("424242", "ADD", _emails(1))
    assert response.status_code == 404
    assert connected_pinterest.call("get", f"{LISTS}/424242").status_code == 404


def test_a_patch_needs_an_operation_type(connected_pinterest):
    list_id = connected_pinterest.create_list(_emails(1)).json()["id"]
    response = connected_pinterest.call(
        "patch", f"{LISTS}/{list_id}", {"operation_type": "UPSERT", "records": _emails(1)[0]}
    )
    assert response.status_code == 400


# --- audiences -------------------------------------------------------------------------------


def test_an_audience_is_made_from_a_customer_list(connected_pinterest):
    list_id = connected_pinterest.create_list(_emails(2)).json()["id"]
    created = connected_pinterest.call("post", f"ad_accounts/{AD_ACCOUNT}/audiences", {
        "name": "Loyal", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": list_id},
    })
    assert created.status_code == 200
    audience = created.json()
    assert audience["rule"] == {"customer_list_id": list_id}
    assert audience["audience_type"] == "CUSTOMER_LIST"
    listed = connected_pinterest.call("get", f"ad_accounts/{AD_ACCOUNT}/audiences").json()
    assert [item["id"] for item in listed["items"]] == [audience["id"]]
    unknown = connected_pinterest.call("post", f"ad_accounts/{AD_ACCOUNT}/audiences", {
        "name": "Ghost", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "1"},
    })
    assert unknown.status_code == 404


def test_an_actalike_needs_a_seed_of_100_and_carries_size_and_status(connected_pinterest,
                                                                      settings):
    settings.SANDBOX_PINTEREST_RATE = 1_000  # a dozen calls within the second
    def audience_on(records):
        list_id = connected_pinterest.create_list(records).json()["id"]
        return connected_pinterest.call("post", f"ad_accounts/{AD_ACCOUNT}/audiences", {
            "name": "Seed", "audience_type": "CUSTOMER_LIST",
            "rule": {"customer_list_id": list_id}}).json()

    def actalike(seed_id, **rule):
        return connected_pinterest.call("post", f"ad_accounts/{AD_ACCOUNT}/audiences", {
            "name": "Like them", "audience_type": "ACTALIKE",
            "rule": {"seed_id": [seed_id], "country": "US", "percentage": 5, **rule}})

    small, big = audience_on(_emails(99)), audience_on(_emails(100))
    assert (small["size"], big["size"]) == (None, 100)
    refused = actalike(small["id"])
    assert refused.status_code == 400 and "too small" in refused.json()["message"]
    for bad in ({"percentage": 11}, {"percentage": 0}, {"country": "usa"}):
        assert actalike(big["id"], **bad).status_code == 400
    assert actalike("3999").status_code == 404

    made = actalike(big["id"])

    assert made.status_code == 200
    body = made.json()
    assert body["audience_type"] == "ACTALIKE"
    assert body["rule"] == {"seed_id": [big["id"]], "country": "US", "percentage": 5}
    assert (body["size"], body["status"]) == (None, "PROCESSING")
    listed = connected_pinterest.call("get", f"ad_accounts/{AD_ACCOUNT}/audiences").json()
    assert body["id"] in [item["id"] for item in listed["items"]]


# --- rate ------------------------------------------------------------------------------------


def test_seven_requests_a_second_per_user_then_429_code_8(connected_pinterest, client, record):
    other_user = PinterestClient(client)
    other_user.connect()
    with frozen():
        statuses = [connected_pinterest.call("get", "ad_accounts").status_code for _ in range(8)]
        assert statuses == [200] * 7 + [429]
        limited = connected_pinterest.call("get", "ad_accounts")
        assert limited.json() == {
            "code": 8, "message": "You have exceeded your rate limit. Try again later."
        }
        assert other_user.call("get", "ad_accounts").status_code == 200
    peaks = record()["max_requests_per_s"]
    assert peaks["pinterest:user-1"] == 9.0
    assert peaks["pinterest:user-2"] == 1.0


def test_refreshed_tokens_share_their_users_budget(settings, connected_pinterest):
    settings.SANDBOX_PINTEREST_RATE = 2
    old = connected_pinterest.token
    connected_pinterest.token = connected_pinterest.refresh().json()["access_token"]
    with frozen():
        assert connected_pinterest.call("get", "ad_accounts", token=old).status_code == 200
        assert connected_pinterest.call("get", "ad_accounts").status_code == 200
        assert connected_pinterest.call("get", "ad_accounts").status_code == 429
