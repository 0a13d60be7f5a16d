"""The one HTTP client every partner module sends through.

Partner modules build requests and read answers (each partner answers in its own way);
this module owns what every call shares: one pooled session per thread, a mandatory
timeout, the shared rate limiter before every partner call, transport failures as
``Transient``, and no secret in any error or log line.
"""

from __future__ import annotations

import http.cookiejar
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests
from django.conf import settings

from partners import ratelimit

from .base import Permanent, RateLimits, Transient

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
# Request fields that carry credentials, wherever they appear: query, form or JSON body.
SECRET_FIELDS = (
    "client_secret", "secret", "access_token", "refresh_token", "auth_code", "code", "token",
)
SECRET_HEADERS = ("access-token", "authorization")
# The call may succeed if made again; other request errors are a bad URL or setting.
TRANSPORT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

_FIELD_NAMES = "|".join(SECRET_FIELDS)
_REDACTIONS = (
    # "Access-Token: abc", "'Authorization': 'Bearer abc'" (header lines and header reprs).
    (
        re.compile(
            r"(?i)\b(access-token|authorization)(['\"]?\s*[:=]\s*['\"]?)"
            r"((?:bearer|basic)\s+)?[^\s'\",;&}]+"
        ),
        rf"\1\2\3{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[\w.~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # secret=abc in a query string or form body; "error_code=" is no secret, hence the
    # look-behind.
    (re.compile(rf"(?i)(?<![\w-])({_FIELD_NAMES})=[^&\s'\"]+"), rf"\1={REDACTED}"),
    # "secret": "abc" in JSON; numeric values ("code": 40105) are partner answer codes.
    (re.compile(rf"(?i)([\"']({_FIELD_NAMES})[\"']\s*:\s*[\"'])[^\"']*"), rf"\1{REDACTED}"),
)


def redact_url(url: str) -> str:
    """The URL without query, fragment or user info: TikTok's advertiser/get/ carries the
    app secret in its query string."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_QUERY_VALUE = re.compile(r"([?&][^=&#\s]+=)[^&#\s]*")


def redact_query_values(text: str) -> str:
    """Every query-string value in ``text`` (URLs, request lines) replaced; names are kept.
    The product's own URLs carry OAuth codes and states, the sandbox's the TikTok secret, and
    others search words: none belongs in a log."""
    return _QUERY_VALUE.sub(rf"\1{REDACTED}", text)


@cache
def _secret_setting_names() -> tuple[str, ...]:
    return tuple(name for name in dir(settings) if "SECRET" in name)


def redact_text(text: str) -> str:
    """``text`` without header credentials, secret fields or any configured secret value."""
    # A handler may log before Django is set up: then only the patterns apply.
    for name in _secret_setting_names() if settings.configured else ():
        value = getattr(settings, name, "")
        # Short values would blank out ordinary words; real secrets are long.
        if isinstance(value, str) and len(value) >= 8:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class SecretRedactingFilter(logging.Filter):
    """Scrubs credentials from log records.

    Attach it to a handler (LOGGING "filters") to cover every logger; this module attaches
    it to its own logger and to urllib3's, which logs each request line with its query.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as usual
            return True
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


logger.addFilter(SecretRedactingFilter())
logging.getLogger("urllib3.connectionpool").addFilter(SecretRedactingFilter())


_local = threading.local()


class CallTime:
    """Seconds spent in partner HTTP calls, waiting for rate slots left out."""

    seconds: float = 0.0

    @property
    def ms(self) -> int:
        return int(self.seconds * 1000)


@contextmanager
def timed_calls() -> Iterator[CallTime]:
    """Add up the time of this thread's partner calls within the block (a sync log row
    reports the partner's time, not the time the limiter made the call wait)."""
    timer, previous = CallTime(), getattr(_local, "timer", None)
    _local.timer = timer
    try:
        yield timer
    finally:
        _local.timer = previous


def session() -> requests.Session:
    """This thread's session: pooled connections, and requests.Session is not thread-safe."""
    current = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        # Every workspace's calls share the session: a cookie set for one connection must
        # never ride along with another's.
        current.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        _local.session = current
    return current


@dataclass(frozen=True)
class RateBudget:
    """The shared rate-limit bucket a call counts against, and its documented budgets."""

    key: str
    limits: RateLimits
    # Below 1: the call also takes a slot in a sub-budget of this share of the scope's, so
    # that background reads never take more of the partner's rate than that.
    share: float = 1.0


@dataclass(frozen=True)
class PartnerResponse:
    """A partner's answer, read by the partner module that sent the request."""

    partner_name: str
    method: str
    url: str  # without its query string
    status: int
    headers: Mapping[str, str]
    content: bytes
    # Credentials this request carried: scrubbed from anything the partner echoes back.
    sent_secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError:
            raise self.garbage(why="not JSON") from None

    def scrub(self, text: str) -> str:
        for secret in self.sent_secrets:
            text = text.replace(secret, REDACTED)
        return redact_text(text)

    def garbage(self, *, why: str) -> Transient:
        """The answer is not what the API documents (a proxy page, a truncated body...)."""
        # Scrub before cutting, so that a secret cut in half cannot slip through.
        text = self.scrub(self.content[:2000].decode("utf-8", errors="replace"))
        excerpt = " ".join(text.split())[:80]
        return Transient(
            f"{self.partner_name} answered garbage to {self.method} {self.url} "
            f"(HTTP {self.status}, {why}): {excerpt!r}",
            http_status=self.status,
        )


class PartnerClient:
    """Sends one partner's requests; a partner module holds one."""

    def __init__(self, *, partner_name: str, base_url_setting: str):
        self.partner_name = partner_name
        self.base_url_setting = base_url_setting

    def url(self, path: str) -> str:
        # Read at call time so that tests and the sandbox switch can override it.
        return getattr(settings, self.base_url_setting) + path

    def request(
        self,
        method: str,
        path: str,
        *,
        budget: RateBudget | None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
    ) -> PartnerResponse:
        """Send one request and return the answer, whatever its status.

        ``budget`` is None only for the OAuth token exchange, which has no connection yet.
        """
        url = self.url(path)
        safe_url = redact_url(url)
        all_headers = {"Accept": "application/json", **(headers or {})}
        body: bytes | Mapping[str, str] | None = form
        if json_body is not None:
            # orjson: a full TikTok batch is about 2 MB of JSON.
            body = orjson.dumps(json_body)
            all_headers["Content-Type"] = "application/json"
        if budget is not None:
            if budget.share < 1:
                ratelimit.acquire(f"{budget.key}:share-{budget.share:g}",
                                  **budget.limits.scaled(budget.share).kwargs())
            ratelimit.acquire(budget.key, **budget.limits.kwargs())
        timeout = settings.PARTNER_HTTP_TIMEOUT
        started = time.monotonic()
        try:
            answer = session().request(
                method, url, headers=all_headers, params=params, data=body,
                auth=basic_auth, timeout=timeout,
                # A redirect would carry the Access-Token header to wherever it points.
                allow_redirects=False,
            )
            _count_time(started)
        except TRANSPORT_ERRORS as exc:
            _count_time(started)
            logger.warning("%s %s %s failed: %s", self.partner_name, method, safe_url,
                           type(exc).__name__)
            # "from None": the requests exception's text holds the full URL, query included.
            raise self._transport_error(exc, method=method, safe_url=safe_url,
                                        timeout=timeout) from None
        except requests.RequestException as exc:
            raise Permanent(
                f"{self.partner_name} request {method} {safe_url} could not be sent "
                f"({type(exc).__name__}): check the partner settings."
            ) from None
        logger.debug("%s %s %s -> HTTP %s in %.0f ms", self.partner_name, method, safe_url,
                     answer.status_code, (time.monotonic() - started) * 1000)
        return PartnerResponse(
            partner_name=self.partner_name,
            method=method,
            url=safe_url,
            status=answer.status_code,
            headers=answer.headers,
            content=answer.content,
            sent_secrets=_secrets_in(headers=headers, params=params, form=form,
                                     json_body=json_body, basic_auth=basic_auth),
        )

    def _transport_error(
        self, exc: requests.RequestException, *, method: str, safe_url: str, timeout: float
    ) -> Transient:
        if isinstance(exc, requests.Timeout):
            what = f"did not answer within {timeout:g} s"
        else:
            what = f"could not be reached ({type(exc).__name__})"
        return Transient(f"{self.partner_name} {what}: {method} {safe_url}")


def _count_time(started: float) -> None:
    timer = getattr(_local, "timer", None)
    if timer is not None:
        timer.seconds += time.monotonic() - started


def _secrets_in(
    *,
    headers: Mapping[str, str] | None,
    params: Mapping[str, str | int] | None,
    form: Mapping[str, str] | None,
    json_body: Any,
    basic_auth: tuple[str, str] | None,
) -> tuple[str, ...]:
    found: list[str] = []
    for name, value in (headers or {}).items():
        if name.lower() in SECRET_HEADERS:
            found += [value, *value.split()[-1:]]  # "Bearer abc": the token alone too
    json_fields = json_body if isinstance(json_body, Mapping) else {}
    for fields in (params or {}, form or {}, json_fields):
        found += [str(value) for name, value in fields.items() if name in SECRET_FIELDS]
    if basic_auth:
        found.append(basic_auth[1])
    # Longest first, so that "Bearer abc" goes whole before "abc" alone.
    return tuple(sorted({value for value in found if len(value) >= 4}, key=len, reverse=True))
