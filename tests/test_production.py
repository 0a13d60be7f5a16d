"""Production is the default: with DEBUG unset the product runs as in production, passes
Django's deployment checks with the README's settings, and mounts no sandbox. Development
mode is asked for (the test run, bin/run's .env), and then says nothing about its key."""

import os
import secrets
import subprocess
import sys

from cryptography.fernet import Fernet
from django.conf import settings

# The README's production settings (the database aside: SQLite in a temporary folder).
PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DEBUG": "false",
    "SITE_URL": "https://sync.example.com",
    "PARTNER_SANDBOX": "false",
    "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "EMAIL_URL": "smtp+tls://user:password@mail.example.com:587",
}

_SETTINGS_AND_SANDBOX = """
import django
django.setup()
from django.conf import settings
from django.test import Client
answer = Client().get("/sandbox/__sandbox__/record", secure=True, HTTP_HOST="127.0.0.1")
print(settings.DEBUG, settings.PARTNER_SANDBOX, answer.status_code)
"""


def _environ(tmp_path, **values) -> dict[str, str]:
    """This process's environment without the test run's development mode, and with no
    .env file: what a server started by hand sees."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DEBUG", "PARTNER_SANDBOX", "SECRET_KEY")}
    return {**env, "ENV_FILE": str(tmp_path / "no.env"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **values}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def test_with_debug_unset_the_product_is_in_production_mode_and_mounts_no_sandbox(tmp_path):
    env = _environ(tmp_path, SECRET_KEY=PRODUCTION["SECRET_KEY"],
                   TOKEN_ENCRYPTION_KEYS=PRODUCTION["TOKEN_ENCRYPTION_KEYS"])
    done = _python(_SETTINGS_AND_SANDBOX, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False", "404"]


def test_with_debug_unset_the_development_secret_key_is_refused(tmp_path):
    done = _python("import django; django.setup()", _environ(tmp_path))
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is false." in done.stderr


def test_the_deployment_checks_pass_with_the_readmes_production_settings(tmp_path):
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy"],
                          cwd=settings.BASE_DIR, env=_environ(tmp_path, **PRODUCTION),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "System check identified no issues" in done.stdout
    assert "WARNING" not in done.stderr + done.stdout


def test_behind_a_tls_proxy_the_forwarded_scheme_counts_as_https(tmp_path):
    code = _SETTINGS_AND_SANDBOX.replace(
        'answer = Client().get("/sandbox/__sandbox__/record", secure=True, HTTP_HOST="127.0.0.1")',
        'answer = Client().get("/accounts/login/", HTTP_HOST="sync.example.com",'
        ' HTTP_X_FORWARDED_PROTO="https")')
    proxied = _environ(tmp_path, **PRODUCTION,
                       SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    done = _python(code, proxied)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False", "200"]  # served, not redirected again

    done = _python(code, _environ(tmp_path, **PRODUCTION))
    assert done.stdout.split()[-1] == "301"  # without the setting: off to https (a loop)


def test_a_checkouts_env_file_turns_on_development_mode_without_a_key_warning(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nPARTNER_SANDBOX=true\n")
    env = {**_environ(tmp_path), "ENV_FILE": str(env_file), "VAR_DIR": str(tmp_path / "var")}
    done = _python(_SETTINGS_AND_SANDBOX, env)
    assert done.returncode == 0, done.stderr[-2000:]
    debug, sandbox, status = done.stdout.split()
    assert (debug, sandbox) == ("True", "True")
    assert status == "403"  # mounted, and its record closed to an anonymous caller
    assert "SECRET_KEY" not in done.stderr


def test_bin_run_writes_a_private_development_env_file_once(tmp_path):
    env_file = tmp_path / ".env"
    env = _environ(tmp_path, ENV_FILE=str(env_file))
    run_help = [str(settings.BASE_DIR / "bin" / "run"), "--help"]
    first = subprocess.run(run_help, cwd=settings.BASE_DIR, env=env, capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    written = env_file.read_text()
    assert env_file.stat().st_mode & 0o777 == 0o600
    lines = dict(line.split("=", 1) for line in written.splitlines())
    assert lines["DEBUG"] == "true" and lines["PARTNER_SANDBOX"] == "true"
    assert len(lines["SECRET_KEY"]) >= 50

    subprocess.run(run_help, cwd=settings.BASE_DIR, env=env, capture_output=True, timeout=120)
    assert env_file.read_text() == written  # kept, key and all

    done = _python(_SETTINGS_AND_SANDBOX, env)  # every manage.py command of the checkout
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["True", "True"]
