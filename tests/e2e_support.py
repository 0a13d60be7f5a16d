"""Point the product's partner settings at the sandbox mounted in a live test server; the
test database's URL for the real processes a test starts."""

import pytest
from django.db import connection


def database_url() -> str:
    """DATABASE_URL of the test database, for a cluster or server in another process."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.fixture
def live_partners(live_server, settings, tmp_path):
    base = live_server.url
    settings.SITE_URL = base
    settings.TIKTOK_API_BASE_URL = f"{base}/sandbox/open_api/v1.3/"
    settings.TIKTOK_AUTHORIZE_URL = f"{base}/sandbox/portal/auth"
    settings.PINTEREST_API_BASE_URL = f"{base}/sandbox/v5/"
    settings.PINTEREST_AUTHORIZE_URL = f"{base}/sandbox/oauth/"
    settings.SANDBOX_STATE_PATH = str(tmp_path / "sandbox.sqlite3")
    settings.SANDBOX_TIKTOK_REDIRECT_URIS = f"{base}/partners/tiktok/callback/"
    settings.SANDBOX_PINTEREST_REDIRECT_URIS = f"{base}/partners/pinterest/callback/"
    return base


@pytest.fixture
def sandbox(live_partners):
    """The mounted sandbox of the live server, driven from outside as a tool would."""
    from audiencesync.proofs.sandbox import LiveSandbox

    return LiveSandbox(url=f"{live_partners}/sandbox", processes=None)
