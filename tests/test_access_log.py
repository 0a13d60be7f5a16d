"""gunicorn's access log, as `manage.py run` and the README's "gunicorn directly" start it
(audiencesync/gunicorn_conf.py), is scrubbed like every other log line: no OAuth code or
state, no app secret, no credential header."""

import os
import subprocess
import sys
import time

import requests
from django.conf import settings

from audiencesync.proofs.processes import free_port, wait_until_serving

SECRETS = {
    "code": "c0de-7f3a9b2e", "auth_code": "authc0de-51d2", "state": "st4te-9a8b7c6d",
    "secret": "app-s3cret-e4f5",
}
CREDENTIALS = {"Authorization": "Bearer as_k3y-0123456789", "Cookie": "remember=s3ss10n-abc"}
# The default line plus the atoms a deployment might add: query, referer, headers.
LOG_FORMAT = ('%(h)s "%(r)s" %(s)s q=%(q)s referer=%(f)s auth=%({authorization}i)s '
              'cookie=%({cookie}i)s raw=%({raw_uri}e)s')


def test_the_access_log_shows_no_oauth_code_state_secret_or_credential(tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "REDIS_URL": ""}
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:audiencesync.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logformat", LOG_FORMAT],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{base}/accounts/login/")
        callback = f"{base}/partners/tiktok/callback/"
        requests.get(callback, params=SECRETS, headers={
            **CREDENTIALS, "Referer": f"{base}/sandbox/portal/auth?state={SECRETS['state']}",
        }, timeout=10, allow_redirects=False)
        end = time.monotonic() + 30
        while '"GET /partners/tiktok/callback/' not in log.read_text():
            assert time.monotonic() < end, log.read_text()
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)

    [line] = [ln for ln in log.read_text().splitlines() if '"GET /partners/tiktok' in ln]
    for value in [*SECRETS.values(), *CREDENTIALS.values(), "as_k3y-0123456789", "s3ss10n-abc"]:
        assert value not in line
    assert "GET /partners/tiktok/callback/?code=[redacted]&auth_code=[redacted]" in line
    assert "&state=[redacted]&secret=[redacted] HTTP/1.1" in line
    assert "q=code=[redacted]&auth_code=[redacted]&state=[redacted]&secret=[redacted]" in line
    assert "referer=http://127.0.0.1" in line and "/sandbox/portal/auth?state=[redacted]" in line
    assert "auth=[redacted] cookie=[redacted]" in line
