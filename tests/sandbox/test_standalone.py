"""The sandbox served on its own (``manage.py run_sandbox``), over real HTTP, sharing its
state file with this test process."""

import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from django.core.management import CommandError, call_command

from partners.sandbox import control as sandbox_control
from partners.sandbox.serve import free_port, server_wait

from .conftest import (
    ADVERTISER,
    CALLBACK,
    TIKTOK_APP_ID,
    TIKTOK_SECRET,
    TikTokClient,
    audience_record,
    query_of,
    user_row,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One standalone sandbox (2 worker processes) for the module; yields (base URL, state)."""
    state = str(tmp_path_factory.mktemp("standalone") / "sandbox.sqlite3")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_sandbox", "--port", str(port), "--workers", "2",
         "--state", state],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "SANDBOX_TIKTOK_REDIRECT_URIS": CALLBACK,
             "SANDBOX_PINTEREST_REDIRECT_URIS": CALLBACK},
    )
    base_url = f"http://127.0.0.1:{port}/"
    try:
        server_wait(base_url)
        yield base_url, state
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def base_url(server):
    requests.post(f"{server[0]}__sandbox__/control", json={"action": "reset"}, timeout=10)
    return server[0]


@pytest.fixture
def sandbox_state(settings, server):
    """This process reads and writes the standalone server's own state file."""
    settings.SANDBOX_STATE_PATH = server[1]
    return server[1]


class FormReader(HTMLParser):
    def __init__(self, page: str):
        super().__init__()
        self.action, self.fields = None, {}
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs["action"]
        elif tag == "input" or tag == "button" and attrs["value"] == "confirm":
            self.fields[attrs["name"]] = attrs["value"]


def _tiktok_token(base_url: str) -> str:
    page_url = f"{base_url}portal/auth"
    page = requests.get(page_url, params={
        "app_id": TIKTOK_APP_ID, "state": "s", "redirect_uri": CALLBACK,
    }, timeout=10)
    form = FormReader(page.text)
    assert form.action == "/portal/auth"
    approved = requests.post(urljoin(page_url, form.action), data=form.fields,
                             allow_redirects=False, timeout=10)
    assert approved.status_code == 302
    auth_code = query_of(approved.headers["Location"])["auth_code"]
    answer = requests.post(f"{base_url}open_api/v1.3/oauth2/access_token/", json={
        "app_id": TIKTOK_APP_ID, "secret": TIKTOK_SECRET, "auth_code": auth_code,
    }, timeout=10).json()
    return answer["data"]["access_token"]


def _tiktok(base_url: str, path: str, token: str, body: dict | None = None) -> dict:
    url = f"{base_url}open_api/v1.3/{path}"
    headers = {"Access-Token": token}
    if body is None:
        response = requests.get(url, params={"advertiser_id": ADVERTISER}, headers=headers,
                                timeout=30)
    else:
        response = requests.post(url, json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    return response.json()


def _create_audience(base_url: str, token: str) -> str:
    return _tiktok(base_url, "segment/audience/", token, {
        "advertiser_id": ADVERTISER, "action": "create", "custom_audience_name": "Standalone",
    })["data"]["audience_id"]


def _mapping(audience_id: str, rows: list) -> dict:
    return {
        "advertiser_ids": [ADVERTISER], "action": "add",
        "id_schema": ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256"], "batch_data": rows,
    }


def test_the_partners_paths_are_at_the_root(base_url):
    token = _tiktok_token(base_url)
    assert _tiktok(base_url, "dmp/custom_audience/list/", token)["code"] == 0
    no_slash = requests.get(f"{base_url}open_api/v1.3/dmp/custom_audience/list",
                            allow_redirects=False, timeout=10)
    assert no_slash.status_code == 404
    pinterest = requests.get(f"{base_url}v5/ad_accounts", timeout=10)
    assert (pinterest.status_code, pinterest.json()["code"]) == (401, 2)
    consent = requests.get(f"{base_url}oauth/", params={
        "client_id": "sandbox-pinterest-app", "redirect_uri": CALLBACK, "response_type": "code",
        "scope": "ads:read", "state": "s",
    }, timeout=10)
    assert FormReader(consent.text).action == "/oauth/"


def test_two_processes_share_one_state(base_url, client):
    token = _tiktok_token(base_url)
    audience_id = _create_audience(base_url, token)
    rows = [user_row(audience_id, email=f"http{n}@example.com") for n in range(3)]
    assert _tiktok(base_url, "segment/mapping/", token, _mapping(audience_id, rows))["code"] == 0

    # This process reads what the server's workers wrote ...
    assert audience_record(sandbox_control.record_read(), "tiktok", audience_id)["present"] == 3
    # ... and its own (mounted) sandbox writes where the server reads.
    mounted = TikTokClient(client)
    mounted.token = token
    local_rows = [user_row(audience_id, email=f"local{n}@example.com") for n in range(2)]
    assert mounted.mapping(audience_id, local_rows)["code"] == 0
    over_http = requests.get(f"{base_url}__sandbox__/record", timeout=10).json()
    assert audience_record(over_http, "tiktok", audience_id)["present"] == 5
    assert over_http["requests"] == 3


def test_the_rate_limit_is_shared_by_every_process(base_url, client):
    token = _tiktok_token(base_url)
    requests.post(f"{base_url}__sandbox__/control",
                  json={"action": "limits", "tiktok_rate": 3}, timeout=10)
    mounted = TikTokClient(client)
    mounted.token = token
    started = time.monotonic()
    codes = [
        _tiktok(base_url, "dmp/custom_audience/list/", token)["code"],
        mounted.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)["code"],
        _tiktok(base_url, "dmp/custom_audience/list/", token)["code"],
        mounted.get("dmp/custom_audience/list/", advertiser_id=ADVERTISER)["code"],
    ]
    assert time.monotonic() - started < 1, "the machine is too slow for a one-second window"
    assert codes == [0, 0, 0, 40100]


def test_a_full_batch_over_http(base_url):
    token = _tiktok_token(base_url)
    audience_id = _create_audience(base_url, token)
    rows = [
        user_row(audience_id, email=f"u{n}@example.com", phone=f"+1415{n:07d}", idfa=f"i{n}")
        for n in range(10_000)
    ]
    answer = _tiktok(base_url, "segment/mapping/", token, _mapping(audience_id, rows))
    assert answer["code"] == 0
    record = requests.get(f"{base_url}__sandbox__/record", timeout=10).json()
    assert audience_record(record, "tiktok", audience_id)["present"] == 10_000


def test_the_bench_command_measures_full_batches(base_url):
    out = StringIO()
    call_command("sandbox", "bench", "--url", base_url, "--batches", "2", "--rows", "1000",
                 "--concurrency", "2", stdout=out)
    assert "users/s" in out.getvalue()
    assert "the record shows 2,000 users received" in out.getvalue()
    status = requests.get(f"{base_url}__sandbox__/status", timeout=10).json()
    assert status["limits"]["enabled"] is True


def test_the_standalone_process_loads_nothing_of_the_product():
    script = (
        "import os, pkgutil, importlib, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'audiencesync.settings'\n"
        "import partners.sandbox.wsgi\n"
        "import partners.sandbox\n"
        "for module in pkgutil.walk_packages(partners.sandbox.__path__, 'partners.sandbox.'):\n"
        "    importlib.import_module(module.name)\n"
        "from django.test import Client\n"
        "assert Client().get('/v5/ad_accounts').status_code == 401\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in"
        " ('audiencesync', 'canvas') or (name.startswith('partners.')"
        " and not name.startswith('partners.sandbox'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=60, check=True,
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "8100", "--workers", "0"]])
def test_run_sandbox_refuses_bad_arguments(args):
    with pytest.raises(CommandError):
        call_command("run_sandbox", *args)
