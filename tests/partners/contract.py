"""What the partner contract test needs to know of each partner: one kit per registry entry.

A kit holds the partner's test settings and secrets, where its calls go and how its
answers look; ``test_partner_contract.py`` runs the same contract against every kit.
Adding a partner adds its kit to ``KITS``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from partners.base import (
    AudienceGone,
    AudienceHealth,
    AudienceRef,
    BatchTooLarge,
    Credentials,
    InvalidToken,
    Partner,
    Permanent,
    RateLimited,
    SendResult,
    Transient,
)

H = {name: name[0] * 64 for name in ("email", "phone", "idfa", "gaid")}  # fake SHA-256 hashes
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REQUEST_ID = "rq-9"


def sent(mock, index=0):
    """The request as sent: method, path, query, headers, JSON body."""
    request = mock.calls[index].request
    parts = urlsplit(request.url)
    is_json = request.headers.get("Content-Type") == "application/json"
    body = orjson.loads(request.body) if is_json and request.body else None
    return request.method, parts.path, dict(parse_qsl(parts.query)), request.headers, body


def sent_form(mock, index=0):
    return dict(parse_qsl(mock.calls[index].request.body))


@dataclass(frozen=True)
class ErrorCase:
    """A refusal of a batch, and what the client makes of it."""

    answer: dict[str, Any]  # for ``Kit.answer``
    error_class: type
    expected: dict[str, Any]  # attributes of the error


class Kit:
    key: str
    base: str
    token: str
    secrets: tuple[str, ...]  # the app's secrets: never in an error, a log or a trace
    ad_account: str
    audience_id: str  # an audience that exists at the partner
    rate_setting: str
    max_batch_setting: str
    rate_key: str  # the budget of connection 42
    authorize_at: tuple[str, str]  # netloc, path
    ad_accounts_path: str
    send_method: str
    error_cases: list[ErrorCase]
    invalid_token: dict[str, Any]
    audience_gone: dict[str, Any]
    garbage_answers: list[tuple[int, bytes]]

    @property
    def credentials(self) -> Credentials:
        return Credentials(access_token=self.token, connection_id=42)

    @property
    def settings(self) -> dict[str, object]:
        """The partner's settings in these tests."""
        raise NotImplementedError

    def configure(self, settings) -> None:
        for name, value in {**self.settings, "PARTNER_HTTP_TIMEOUT": 7.5}.items():
            setattr(settings, name, value)

    def authorize_query(self, *, state: str, redirect_uri: str) -> dict[str, str]:
        raise NotImplementedError

    def send_path(self) -> str:
        raise NotImplementedError

    def send(self, partner: Partner, *, rows=None, action="add") -> SendResult:
        """A batch to the existing audience."""
        return partner.send_users(
            credentials=self.credentials,
            audience=AudienceRef(ad_account_id=self.ad_account, audience_id=self.audience_id,
                                 name="Cart abandoners"),
            action=action, match_fields=["email"], rows=rows or [{"email": H["email"]}])

    def answer(self, api, *, status: int = 200, body: bytes | None = None, **answer) -> None:
        """Register the partner's answer to the next batch."""
        raise NotImplementedError

    def answer_ok(self, api) -> None:
        raise NotImplementedError

    def ad_accounts_answer(self, api, *, items: list | None = None, **kwargs) -> None:
        raise NotImplementedError

    def exchange_answer(self, api) -> None:
        """A successful token answer (access token "new-token-abcdef12")."""
        raise NotImplementedError

    def exchange_checks(self, api, tokens) -> None:
        """What the partner's own token request and answer hold."""
        raise NotImplementedError

    def exchange_refused(self, api, *, message: str) -> None:
        """The partner refuses the code; its answer carries ``exchange_refused_code``."""
        raise NotImplementedError

    exchange_refused_code: int
    redirect_error: type  # what a redirect (never followed) answers

    # Audience state: the ids asked for, what the partner's answers make of them (one ready,
    # one too small, one processing; the fourth no longer exists), and the calls it takes.
    state_ids: tuple[str, ...]
    expected_states: dict[str, tuple[AudienceHealth, int | None]]
    state_calls: int

    def states_answer(self, api) -> None:
        """The partner's listings that ``expected_states`` is read from."""
        raise NotImplementedError

    # Look-alikes: the options chosen, the id the partner answers, and its refusal of a
    # seed too small (its own words, which the product passes on).
    lookalike_options: dict[str, str]
    lookalike_id: str
    seed_too_small: str

    def lookalike_answer(self, api, *, refused: bool = False) -> None:
        raise NotImplementedError

    def lookalike_checks(self, api) -> None:
        """The look-alike request as the partner documents it."""
        raise NotImplementedError


def tiktok_ok(data=None, *, code=0, message="OK", request_id="req-1"):
    return {"code": code, "message": message, "request_id": request_id, "data": data or {}}


class TikTokKit(Kit):
    key = "tiktok"
    base = "https://tiktok.test/open_api/v1.3/"
    app_id = "tt-app-1234"
    app_secret = "tiktok-app-secret-XYZ-987"
    token = "tt-access-token-0123456789abcdef"
    secrets = (app_secret,)
    ad_account = "7178000000000000001"
    audience_id = "900"
    rate_setting = "TIKTOK_RATE_PER_S"
    max_batch_setting = "TIKTOK_MAX_BATCH"
    rate_key = "tiktok:app"
    exchange_refused_code = 40110
    redirect_error = Permanent  # no API answer is ever a redirect
    authorize_at = ("tiktok.test", "/portal/auth")
    ad_accounts_path = "oauth2/advertiser/get/"
    send_method = "POST"
    error_cases = [
        ErrorCase({"code": code, "message": message}, error_class,
                  {"partner_code": code, "request_id": REQUEST_ID}
                  | ({"retry_after": None} if error_class is RateLimited else {}))
        for code, message, error_class in [
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
    ]
    invalid_token = {"code": 40105, "message": "Access token is invalid or has been revoked."}
    audience_gone = {"code": 40007, "message": "Audience does not exist."}
    garbage_answers = [(200, body) for body in (
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"code": 0, "message": "OK", "data": {"lis',
        b'["not", "an", "object"]',
        b'{"message": "OK", "data": {}}',
        b'{"code": "0", "message": "OK"}',
        b'{"code": 0, "message": "OK", "data": ["x"]}',
        b"",
    )]

    @property
    def settings(self) -> dict[str, object]:
        return {
            "TIKTOK_API_BASE_URL": self.base,
            "TIKTOK_AUTHORIZE_URL": "https://tiktok.test/portal/auth",
            "TIKTOK_APP_ID": self.app_id,
            "TIKTOK_SECRET": self.app_secret,
            "TIKTOK_RATE_PER_S": 50.0,
            "TIKTOK_MAX_BATCH": 10_000,
            "TIKTOK_MAX_AUDIENCES": 400,
        }

    def authorize_query(self, *, state: str, redirect_uri: str) -> dict[str, str]:
        return {"app_id": self.app_id, "state": state, "redirect_uri": redirect_uri}

    def send_path(self) -> str:
        return "segment/mapping/"

    def answer(self, api, *, status: int = 200, body: bytes | None = None, **answer) -> None:
        if body is None:
            answer.setdefault("request_id", REQUEST_ID)
            api.post(self.base + self.send_path(), status=status, json=tiktok_ok(**answer))
        else:
            api.post(self.base + self.send_path(), status=status, body=body)

    def answer_ok(self, api) -> None:
        api.post(self.base + self.send_path(), json=tiktok_ok())

    def ad_accounts_answer(self, api, *, items: list | None = None, **kwargs) -> None:
        if "body" in kwargs:
            api.get(self.base + self.ad_accounts_path, **kwargs)
        else:
            data = {"list": items} if items is not None else {"items": []}
            api.get(self.base + self.ad_accounts_path, json=tiktok_ok(data))

    def exchange_answer(self, api) -> None:
        api.post(self.base + "oauth2/access_token/", json=tiktok_ok({
            "access_token": "new-token-abcdef12", "advertiser_ids": [7001, "7002"],
            "scope": [3, 4]}))

    def exchange_checks(self, api, tokens) -> None:
        method, path, query, headers, body = sent(api)
        assert (method, path, query) == ("POST", "/open_api/v1.3/oauth2/access_token/", {})
        assert body == {"app_id": self.app_id, "secret": self.app_secret,
                        "auth_code": "auth-code-1"}
        assert headers["Content-Type"] == "application/json"
        assert "Access-Token" not in headers
        assert tokens.ad_account_ids == ("7001", "7002")
        assert tokens.scope == "3,4"
        # The token never expires and cannot be refreshed.
        assert (tokens.expires_at, tokens.refresh_token, tokens.refresh_expires_at) == (
            None, "", None)

    def exchange_refused(self, api, *, message: str) -> None:
        api.post(self.base + "oauth2/access_token/", json=tiktok_ok(code=40110, message=message))

    lookalike_options = {"location": "2635167", "audience_size": "NARROW"}
    lookalike_id = "7001"
    seed_too_small = "The source audience is too small to create a lookalike audience."

    def lookalike_answer(self, api, *, refused: bool = False) -> None:
        answer = (tiktok_ok(code=40002, message=self.seed_too_small) if refused
                  else tiktok_ok({"custom_audience_id": self.lookalike_id}))
        api.post(self.base + "dmp/custom_audience/lookalike/create/", json=answer)

    def lookalike_checks(self, api) -> None:
        method, path, _, headers, body = sent(api)
        assert (method, path) == ("POST", "/open_api/v1.3/dmp/custom_audience/lookalike/create/")
        assert headers["Access-Token"] == self.token
        assert body == {"advertiser_id": self.ad_account, "custom_audience_name": "Look-alike",
                        "lookalike_spec": {
                            "source_audience_id": self.audience_id, "include_source": False,
                            "mobile_os": "ALL", "placements": ["TIKTOK"],
                            "location_ids": ["2635167"], "audience_size": "NARROW"}}

    state_ids = ("900", "901", "902", "904")
    expected_states = {"900": (AudienceHealth.READY, 1_500),
                       "901": (AudienceHealth.TOO_SMALL, None),
                       "902": (AudienceHealth.PROCESSING, None)}
    state_calls = 1

    def states_answer(self, api) -> None:
        items = [{"audience_id": "900", "name": "Buyers", "cover_num": 1_500, "is_valid": True,
                  "audience_type": "Partner Audience"},
                 {"audience_id": "901", "name": "Few", "cover_num": 0, "is_valid": True,
                  "audience_type": "Partner Audience"},
                 {"audience_id": "902", "name": "New", "cover_num": 0, "is_valid": False,
                  "audience_type": "Partner Audience"},
                 {"audience_id": "903", "name": "Other", "cover_num": 9_000, "is_valid": True,
                  "audience_type": "Customer File"}]
        api.get(self.base + "dmp/custom_audience/list/", json=tiktok_ok({
            "list": items,
            "page_info": {"page": 1, "page_size": 100, "total_number": 4, "total_page": 1}}))


class PinterestKit(Kit):
    key = "pinterest"
    base = "https://pinterest.test/v5/"
    client_id = "pin-client-1234"
    client_secret = "pinterest-client-secret-QRS-654"
    token = "pina_access-token-0123456789abcdef"
    secrets = (client_secret,)
    ad_account = "549755885175"
    audience_id = "101"
    rate_setting = "PINTEREST_RATE_PER_S"
    max_batch_setting = "PINTEREST_MAX_BATCH"
    rate_key = "pinterest:connection-42"
    exchange_refused_code = 1
    redirect_error = Transient  # a 3xx without an error message is garbage
    authorize_at = ("pinterest.test", "/oauth/")
    ad_accounts_path = "ad_accounts"
    send_method = "PATCH"
    error_cases = [
        ErrorCase({"status": status, **answer}, error_class,
                  {"http_status": status, "partner_code": answer["code"],
                   "request_id": REQUEST_ID})
        for status, answer, error_class in [
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
    ]
    invalid_token = {"status": 401, "code": 2, "message": "Authentication failed."}
    audience_gone = {"status": 404, "code": 4161, "message": "Customer list not found."}
    garbage_answers = [
        (200, b"<html>Welcome to the hotel wifi</html>"),
        (200, b'["not", "an", "object"]'),
        (200, b'{"id": "10'),
        (400, b"<html>400 Bad Request</html>"),
    ]

    @property
    def lists(self) -> str:
        return f"{self.base}ad_accounts/{self.ad_account}/customer_lists"

    @property
    def settings(self) -> dict[str, object]:
        return {
            "PINTEREST_API_BASE_URL": self.base,
            "PINTEREST_AUTHORIZE_URL": "https://pinterest.test/oauth/",
            "PINTEREST_CLIENT_ID": self.client_id,
            "PINTEREST_CLIENT_SECRET": self.client_secret,
            "PINTEREST_RATE_PER_S": 7.0,
            "PINTEREST_MAX_BATCH": 1_900,
        }

    def authorize_query(self, *, state: str, redirect_uri: str) -> dict[str, str]:
        return {"client_id": self.client_id, "redirect_uri": redirect_uri,
                "response_type": "code", "scope": "ads:read,ads:write", "state": state}

    def send_path(self) -> str:
        return f"ad_accounts/{self.ad_account}/customer_lists/{self.audience_id}"

    def answer(self, api, *, status: int = 200, body: bytes | None = None, **answer) -> None:
        url = self.base + self.send_path()
        if body is None:
            api.patch(url, status=status, json=answer, headers={"x-request-id": REQUEST_ID})
        else:
            api.patch(url, status=status, body=body)

    def answer_ok(self, api) -> None:
        api.patch(self.base + self.send_path(), json={"id": self.audience_id})

    def ad_accounts_answer(self, api, *, items: list | None = None, **kwargs) -> None:
        if "body" in kwargs:
            api.get(self.base + self.ad_accounts_path, **kwargs)
        else:
            page = {"items": items} if items is not None else {"data": []}
            api.get(self.base + self.ad_accounts_path, json=page)

    def exchange_answer(self, api) -> None:
        api.post(self.base + "oauth/token", json={
            "access_token": "new-token-abcdef12", "token_type": "bearer",
            "expires_in": 2_592_000, "scope": "ads:read,ads:write",
            "refresh_token": "pinr_new", "refresh_token_expires_in": 5_184_000,
            "refresh_token_expires_at": 1_777_777_777,
        })

    def exchange_checks(self, api, tokens) -> None:
        method, path, query, headers, _ = sent(api)
        assert (method, path, query) == ("POST", "/v5/oauth/token", {})
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        assert headers["Authorization"] == f"Basic {basic}"
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert sent_form(api) == {"grant_type": "authorization_code", "code": "auth-code-1",
                                  "redirect_uri": "https://app.test/cb"}
        assert tokens.refresh_token == "pinr_new"
        assert tokens.expires_at == NOW + timedelta(days=30)
        assert tokens.refresh_expires_at == NOW + timedelta(days=60)
        assert tokens.scope == "ads:read,ads:write"

    def exchange_refused(self, api, *, message: str) -> None:
        api.post(self.base + "oauth/token", status=400, json={"code": 1, "message": message})

    lookalike_options = {"country": "GB", "percentage": "3"}
    lookalike_id = "3009"
    seed_too_small = "The seed audience is too small."

    @property
    def audiences_url(self) -> str:
        return f"{self.base}ad_accounts/{self.ad_account}/audiences"

    def lookalike_answer(self, api, *, refused: bool = False) -> None:
        # The seed is the audience built on the customer list the product fills.
        api.get(self.audiences_url, json={"items": [
            {"id": "3001", "audience_type": "CUSTOMER_LIST",
             "rule": {"customer_list_id": self.audience_id}, "size": 1_500, "status": "READY"},
        ], "bookmark": None})
        if refused:
            api.post(self.audiences_url, status=400,
                     json={"code": 1, "message": self.seed_too_small})
        else:
            api.post(self.audiences_url, json={
                "id": self.lookalike_id, "audience_type": "ACTALIKE", "size": None,
                "status": "PROCESSING",
                "rule": {"seed_id": ["3001"], "country": "GB", "percentage": 3}})

    def lookalike_checks(self, api) -> None:
        method, path, _, headers, body = sent(api, 1)
        assert (method, path) == ("POST", f"/v5/ad_accounts/{self.ad_account}/audiences")
        assert headers["Authorization"] == f"Bearer {self.token}"
        assert body == {"name": "Look-alike", "audience_type": "ACTALIKE",
                        "rule": {"seed_id": ["3001"], "country": "GB", "percentage": 3}}

    state_ids = ("101", "102", "103", "104")
    expected_states = {"101": (AudienceHealth.READY, 1_500),
                       "102": (AudienceHealth.TOO_SMALL, None),
                       "103": (AudienceHealth.PROCESSING, None)}
    state_calls = 2

    def states_answer(self, api) -> None:
        def customer_list(list_id, status):
            return {"id": list_id, "name": f"List {list_id}", "list_type": "EMAIL",
                    "status": status, "num_batches": 2, "num_uploaded_user_records": 1_600,
                    "num_removed_user_records": 10}

        api.get(self.lists, json={"items": [customer_list("101", "READY"),
                                            customer_list("102", "TOO_SMALL"),
                                            customer_list("103", "PROCESSING")],
                                  "bookmark": None})
        api.get(f"{self.base}ad_accounts/{self.ad_account}/audiences", json={"items": [
            {"id": "3001", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "101"},
             "size": 1_500, "status": "READY"},
            {"id": "3002", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": "102"},
             "size": None, "status": "READY"},
        ], "bookmark": None})


# The shared contract test's parameters: one kit per partner of the registry.
KITS: dict[str, Kit] = {kit.key: kit for kit in (TikTokKit(), PinterestKit())}
