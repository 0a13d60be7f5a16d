"""The web server's settings, for `manage.py run` and for gunicorn started directly:

    gunicorn -c python:audiencesync.gunicorn_conf --bind 0.0.0.0:8000

Flags on the command line win over these. Every access-log line is scrubbed (see
``RedactingLogger``), as the README promises for every log line."""

from gunicorn.glogging import Logger

from partners.http import (
    REDACTED,
    SECRET_HEADERS,
    SecretRedactingFilter,
    redact_query_values,
    redact_text,
)

wsgi_app = "audiencesync.wsgi:application"
worker_class = "gthread"
workers = 2
threads = 8
timeout = 120
accesslog = "-"
loglevel = "warning"

# Headers whose whole value is a credential, in the access log's {name}i / {name}o atoms.
_CREDENTIAL_HEADERS = {*SECRET_HEADERS, "cookie", "set-cookie", "x-sandbox-token"}
# Atoms that are a bare query string, without the "?".
_QUERY_ATOMS = {"q", "{query_string}e"}


def _is_credential(atom: str) -> bool:
    """``{authorization}i``, ``{set-cookie}o``, ``{http_cookie}e``, ..."""
    if not atom.startswith("{"):
        return False
    name, kind = atom[1:].rsplit("}", 1)
    if kind == "e":
        name = name.removeprefix("http_").replace("_", "-")
    return name in _CREDENTIAL_HEADERS


def scrub_atom(atom: str, value):
    if not isinstance(value, str):
        return value
    if _is_credential(atom):
        return REDACTED
    if atom in _QUERY_ATOMS:
        return redact_query_values("?" + value)[1:] if value else value
    return redact_text(redact_query_values(value))


class RedactingLogger(Logger):
    """gunicorn's logger, its access lines without query values (OAuth ``code``, ``auth_code``
    and ``state``, the sandbox's TikTok ``secret``), credentials or secret settings; its error
    lines through the product's log filter."""

    def setup(self, cfg):
        super().setup(cfg)
        self.error_log.addFilter(SecretRedactingFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {atom: scrub_atom(atom, value) for atom, value in atoms.items()}


logger_class = RedactingLogger
