"""How many users per second the sandbox takes: full TikTok batches, prepared in advance and
sent over HTTP from this process (several connections at once), with the limits lifted.

It speaks to the sandbox only over HTTP, like the product does: consent, token exchange,
audience creation, then the uploads, then the record to check every user arrived.
"""

from __future__ import annotations

import hashlib
import http.client
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from . import conf, world
from .control_views import CONTROL_TOKEN_HEADER

ID_SCHEMA = ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256"]


@dataclass(frozen=True)
class BenchResult:
    users: int
    requests: int
    seconds: float
    latencies_s: list[float]
    received: int

    @property
    def users_per_s(self) -> float:
        return self.users / self.seconds

    def summary(self) -> str:
        return (
            f"{self.users:,} users in {self.requests} requests in {self.seconds:.2f} s: "
            f"{self.users_per_s:,.0f} users/s, {self.requests / self.seconds:.1f} requests/s; "
            f"latency median {statistics.median(self.latencies_s) * 1000:.0f} ms, "
            f"max {max(self.latencies_s) * 1000:.0f} ms; the record shows {self.received:,} "
            "users received"
        )


class _Client:
    """One keep-alive HTTP connection per thread to the sandbox at ``base_url``."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port, self.prefix = parts.hostname, parts.port, parts.path
        self._local = threading.local()

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            try:
                return self._exchange(connection, method, path, body, headers)
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server closed an idle keep-alive connection: open a fresh one.
                connection.close()
        connection = self._local.connection = http.client.HTTPConnection(
            self.host, self.port, timeout=120
        )
        return self._exchange(connection, method, path, body, headers)

    def _exchange(self, connection, method, path, body, headers):
        # The control token opens the controls of a sandbox mounted in the product too.
        headers = {CONTROL_TOKEN_HEADER: conf.control_token(), **(headers or {})}
        connection.request(method, self.prefix + path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Location"), response.read()

    def json(self, method: str, path: str, payload=None, headers=None) -> dict:
        body = None if payload is None else orjson.dumps(payload)
        headers = {"Content-Type": "application/json", **(headers or {})}
        status, _location, content = self.request(method, path, body, headers)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered HTTP {status}: {content[:200]!r}")
        return orjson.loads(content)


def _tiktok_token(client: _Client) -> str:
    registered = conf.tiktok_redirect_uris()
    if not registered:
        raise RuntimeError("The bench approves a consent: set SANDBOX_TIKTOK_REDIRECT_URIS.")
    form = urlencode({
        "app_id": conf.tiktok_app_id(), "redirect_uri": registered[0],
        "state": "bench", "decision": "confirm",
    }).encode()
    _status, location, _content = client.request(
        "POST", "portal/auth", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    auth_code = parse_qs(urlsplit(location).query)["auth_code"][0]
    answer = client.json("POST", "open_api/v1.3/oauth2/access_token/", {
        "app_id": conf.tiktok_app_id(), "secret": conf.tiktok_secret(), "auth_code": auth_code,
    })
    return answer["data"]["access_token"]


def _batches(*, audience_id: str, advertiser_id: str, batches: int, rows: int) -> list[bytes]:
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    bodies = []
    for batch in range(batches):
        targets = [audience_id]
        batch_data = [
            [
                {"id": digest(f"user{batch}-{row}@example.com"), "audience_ids": targets},
                {"id": digest(f"+1415{batch:03d}{row:05d}"), "audience_ids": targets},
                {"id": digest(f"idfa-{batch}-{row}"), "audience_ids": targets},
            ]
            for row in range(rows)
        ]
        bodies.append(orjson.dumps({
            "advertiser_ids": [advertiser_id], "action": "add", "id_schema": ID_SCHEMA,
            "batch_data": batch_data,
        }))
    return bodies


def bench_run(*, base_url: str, batches: int, rows: int, concurrency: int) -> BenchResult:
    """Send ``batches`` full batches of ``rows`` users, limits lifted, and time them."""
    client = _Client(base_url)
    limits_before = client.json("GET", "__sandbox__/status")["limits"]["enabled"]
    client.json("POST", "__sandbox__/control", {"action": "limits", "enabled": False})
    try:
        token = _tiktok_token(client)
        advertiser_id = next(iter(world.TIKTOK_ADVERTISERS))
        created = client.json("POST", "open_api/v1.3/segment/audience/", {
            "advertiser_id": advertiser_id, "action": "create",
            "custom_audience_name": f"Sandbox bench {time.strftime('%H:%M:%S')}",
        }, {"Access-Token": token})
        audience_id = created["data"]["audience_id"]
        bodies = _batches(
            audience_id=audience_id, advertiser_id=advertiser_id, batches=batches, rows=rows
        )
        headers = {"Content-Type": "application/json", "Access-Token": token}

        def send(body: bytes) -> float:
            started = time.perf_counter()
            status, _location, content = client.request(
                "POST", "open_api/v1.3/segment/mapping/", body, headers
            )
            answer = orjson.loads(content)
            if status != 200 or answer["code"] != 0:
                raise RuntimeError(f"Upload refused: HTTP {status}, {answer}")
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            latencies = list(pool.map(send, bodies))
        seconds = time.perf_counter() - started
        record = client.json("GET", "__sandbox__/record")
    finally:
        client.json("POST", "__sandbox__/control", {"action": "limits", "enabled": limits_before})
    received = next(
        audience["received_add"]
        for audience in record["audiences"]
        if audience["partner"] == world.TIKTOK and audience["audience_id"] == audience_id
    )
    return BenchResult(
        users=batches * rows, requests=batches, seconds=seconds, latencies_s=latencies,
        received=received,
    )
