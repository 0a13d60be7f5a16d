"""Fixtures for the partner sandbox: a state file per test and small partner clients that
speak to the sandbox mounted in the product (Django's test client, /sandbox/...).

The helpers here are deliberately written from PARTNER_APIS.md, not from the sandbox's code:
they are what a client of the real APIs would send.
"""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import time_machine
from django.test import Client

from partners.sandbox.control_views import CONTROL_TOKEN_HEADER

TIKTOK_APP_ID = "sandbox-tiktok-app"
TIKTOK_SECRET = "sandbox-tiktok-secret"
PINTEREST_CLIENT_ID = "sandbox-pinterest-app"
PINTEREST_CLIENT_SECRET = "sandbox-pinterest-secret"
CALLBACK = "https://app.example/partners/callback"

ADVERTISER = "7300000000000000001"
OTHER_ADVERTISER = "7300000000000000002"
STREAMING_AUDIENCE = "1001"  # the advertiser's existing "Partner Audience"
CUSTOMER_FILE_AUDIENCE = "1002"  # the advertiser's existing "Customer File" audience
AD_ACCOUNT = "549700000001"
ID_SCHEMA = ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256"]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def frozen():
    """Stop the clock (the sandbox reads time.time()) now, for timing-exact tests."""
    return time_machine.travel(time.time(), tick=False)


@pytest.fixture(autouse=True)
def sandbox_state(settings, tmp_path):
    """Every test gets a fresh state file."""
    settings.SANDBOX_STATE_PATH = str(tmp_path / "sandbox.sqlite3")
    return settings.SANDBOX_STATE_PATH


@pytest.fixture(autouse=True)
def registered_callback(settings):
    """The test apps' registered redirect_uri."""
    settings.SANDBOX_TIKTOK_REDIRECT_URIS = settings.SANDBOX_PINTEREST_REDIRECT_URIS = CALLBACK


@pytest.fixture
def client(settings):
    """A client of the mounted sandbox, holding the control token as the product's tools do."""
    return Client(headers={CONTROL_TOKEN_HEADER: settings.SANDBOX_CONTROL_TOKEN})


class TikTokClient:
    def __init__(self, client, root: str = "/sandbox/"):
        self.client = client
        self.root = root
        self.api = f"{root}open_api/v1.3/"
        self.token = ""

    def consent(self, *, state: str = "st4te", decision: str = "confirm"):
        return self.client.post(f"{self.root}portal/auth", {
            "app_id": TIKTOK_APP_ID, "redirect_uri": CALLBACK, "state": state,
            "decision": decision,
        })

    def exchange(self, auth_code: str, *, secret: str = TIKTOK_SECRET) -> dict:
        return self.post("oauth2/access_token/", {
            "app_id": TIKTOK_APP_ID, "secret": secret, "auth_code": auth_code,
        }, token=None)

    def connect(self) -> str:
        auth_code = query_of(self.consent()["Location"])["auth_code"]
        self.token = self.exchange(auth_code)["data"]["access_token"]
        return self.token

    def _headers(self, token):
        token = self.token if token is ... else token
        return {"Access-Token": token} if token else {}

    def get(self, path: str, *, token=..., **params) -> dict:
        response = self.client.get(self.api + path, params, headers=self._headers(token))
        assert response.status_code == 200, response.content
        return response.json()

    def post(self, path: str, body: dict, *, token=...) -> dict:
        response = self.client.post(
            self.api + path, orjson.dumps(body), content_type="application/json",
            headers=self._headers(token),
        )
        assert response.status_code == 200, response.content
        return response.json()

    def create_audience(self, name: str = "Canvas audience", advertiser=ADVERTISER) -> str:
        answer = self.post("segment/audience/", {
            "advertiser_id": advertiser, "action": "create", "custom_audience_name": name,
        })
        assert answer["code"] == 0, answer
        return answer["data"]["audience_id"]

    def mapping(self, audience_id: str, rows: list[list[dict]], *, action: str = "add",
                id_schema=None, advertiser=ADVERTISER) -> dict:
        return self.post("segment/mapping/", {
            "advertiser_ids": [advertiser], "action": action,
            "id_schema": id_schema or ID_SCHEMA, "batch_data": rows,
        })


def user_row(audience_id: str, *, email=None, phone=None, idfa=None) -> list[dict]:
    """One batch_data row aligned with ID_SCHEMA, {} for a missing id."""
    return [
        {"id": sha256(value), "audience_ids": [audience_id]} if value else {}
        for value in (email, phone, idfa)
    ]


def member_key(*, email=None, phone=None, idfa=None) -> str:
    parts = [
        f"{id_type}:{sha256(value)}"
        for id_type, value in zip(ID_SCHEMA, (email, phone, idfa), strict=True)
        if value
    ]
    return "|".join(parts)


class PinterestClient:
    def __init__(self, client, root: str = "/sandbox/"):
        self.client = client
        self.root = root
        self.api = f"{root}v5/"
        self.token = ""
        self.refresh_token = ""

    def consent(self, *, scope: str = "ads:read,ads:write", decision: str = "confirm",
                state: str = "st4te"):
        return self.client.post(f"{self.root}oauth/", {
            "client_id": PINTEREST_CLIENT_ID, "redirect_uri": CALLBACK, "response_type": "code",
            "scope": scope, "state": state, "decision": decision,
        })

    def token_call(self, form: dict, *, secret: str = PINTEREST_CLIENT_SECRET):
        basic = base64.b64encode(f"{PINTEREST_CLIENT_ID}:{secret}".encode()).decode()
        return self.client.post(
            f"{self.api}oauth/token", form, headers={"Authorization": f"Basic {basic}"}
        )

    def connect(self, *, scope: str = "ads:read,ads:write") -> dict:
        code = query_of(self.consent(scope=scope)["Location"])["code"]
        response = self.token_call(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        )
        assert response.status_code == 200, response.content
        answer = response.json()
        self.token, self.refresh_token = answer["access_token"], answer["refresh_token"]
        return answer

    def refresh(self):
        return self.token_call(
            {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        )

    def call(self, method: str, path: str, body: dict | None = None, *, token=...):
        token = self.token if token is ... else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is None:
            return getattr(self.client, method)(self.api + path, headers=headers)
        return getattr(self.client, method)(
            self.api + path, orjson.dumps(body), content_type="application/json",
            headers=headers,
        )

    def create_list(self, records: list[str], *, name: str = "Canvas list", **extra):
        return self.call("post", f"ad_accounts/{AD_ACCOUNT}/customer_lists", {
            "name": name, "records": ",".join(records), **extra,
        })

    def update_list(self, list_id: str, operation: str, records: list[str]):
        return self.call("patch", f"ad_accounts/{AD_ACCOUNT}/customer_lists/{list_id}", {
            "operation_type": operation, "records": ",".join(records),
        })


@pytest.fixture
def tiktok(client) -> TikTokClient:
    return TikTokClient(client)


@pytest.fixture
def connected_tiktok(tiktok) -> TikTokClient:
    tiktok.connect()
    return tiktok


@pytest.fixture
def pinterest(client) -> PinterestClient:
    return PinterestClient(client)


@pytest.fixture
def connected_pinterest(pinterest) -> PinterestClient:
    pinterest.connect()
    return pinterest


@pytest.fixture
def record(client):
    """The sandbox's record, read as a test would: over HTTP."""

    def read() -> dict:
        response = client.get("/sandbox/__sandbox__/record")
        assert response.status_code == 200
        return response.json()

    return read


@pytest.fixture
def control(client):
    def send(action: str, **fields) -> dict:
        response = client.post(
            "/sandbox/__sandbox__/control", orjson.dumps({"action": action, **fields}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()

    return send


def audience_record(record: dict, partner: str, audience_id: str) -> dict:
    return next(
        audience
        for audience in record["audiences"]
        if audience["partner"] == partner and audience["audience_id"] == audience_id
    )
