"""A standalone partner sandbox process, for the benchmark and for tests with real workers."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings

from audiencesync.proofs.browser import Browser
from audiencesync.proofs.processes import Processes, free_port, wait_until_serving
from partners import oauth, registry
from partners.sandbox.control_views import CONTROL_TOKEN_HEADER


def sandbox_control_headers() -> dict[str, str]:
    """What opens the sandbox's controls and record to a tool: the control token that the
    product keeps under var/ (only a sandbox of this checkout knows it)."""
    return {CONTROL_TOKEN_HEADER: getattr(settings, "SANDBOX_CONTROL_TOKEN", "")}


@dataclass
class LiveSandbox:
    url: str
    processes: Processes

    @property
    def tiktok_api(self) -> str:
        return f"{self.url}/open_api/v1.3/"

    def control(self, **body) -> dict:
        response = requests.post(f"{self.url}/__sandbox__/control", json=body, timeout=10,
                                 headers=sandbox_control_headers())
        response.raise_for_status()
        return response.json()

    def record(self) -> dict:
        return requests.get(f"{self.url}/__sandbox__/record", timeout=10,
                            headers=sandbox_control_headers()).json()

    def members(self, partner: str, audience_id: str) -> list[str]:
        return requests.get(f"{self.url}/__sandbox__/audiences/{partner}/{audience_id}/members",
                            timeout=10, headers=sandbox_control_headers()).json()["members"]

    def grant(self, partner_key: str):
        """Approve the consent page like a browser and exchange the code: a real token. The
        product's own callback is the redirect_uri its sandbox apps have registered; it is
        never followed here."""
        partner = registry.get(partner_key)
        callback = oauth.redirect_uri(partner=partner)
        browser = Browser()
        consent = browser.get(partner.authorize_url(state="test-state", redirect_uri=callback))
        back = browser.submit(consent, button="Confirm", follow_redirects=False)
        query = parse_qs(urlsplit(back.headers["Location"]).query)
        code = (query.get("auth_code") or query["code"])[0]
        return partner.exchange_code(code=code, redirect_uri=callback)


def start_sandbox(state_dir: Path, *, processes: Processes | None = None,
                  **limits) -> LiveSandbox:
    """Serve a fresh sandbox (state in ``state_dir``) on a free port; ``limits`` as env knobs."""
    port = free_port()
    processes = processes or Processes()
    env = {f"SANDBOX_{name.upper()}": str(value) for name, value in limits.items()}
    state = Path(state_dir) / "sandbox.sqlite3"
    for leftover in state.parent.glob(state.name + "*"):
        leftover.unlink()
    processes.start([sys.executable, "manage.py", "run_sandbox", "--port", str(port),
                     "--state", str(state)], env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(f"{url}/__sandbox__/record")
    return LiveSandbox(url=url, processes=processes)


def workspace_connect(*, sandbox: LiveSandbox, workspace, partner_key: str):
    """Connect the workspace to the sandbox partner through the product's own services
    (a real grant, token exchange and ad-account listing) and select every ad account."""
    from partners.services import ad_accounts_select, connection_connect

    connection = connection_connect(workspace=workspace, partner=registry.get(partner_key),
                                    tokens=sandbox.grant(partner_key), user=None)
    ad_accounts_select(connection=connection,
                       external_ids=list(connection.ad_accounts.values_list("external_id",
                                                                            flat=True)))
    return connection
