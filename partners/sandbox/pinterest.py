"""Pinterest API v5, as the product's client meets it: real HTTP statuses, errors as
``{code, message}``. Paths answer with or without a trailing slash.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
import time
from collections.abc import Callable

import orjson
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from . import conf, gate, members, oauth, store, world
from .calls import Apply, CallError, Dialect, call_serve
from .web import json_response, sandbox_view
from .world import PINTEREST

ACCESS_TOKEN_LIFETIME_S = 30 * 86400
REFRESH_TOKEN_LIFETIME_S = 60 * 86400
ACCESS_TOKEN_PREFIX = "pina_"
REFRESH_TOKEN_PREFIX = "pinr_"
READ_SCOPE = "ads:read"
WRITE_SCOPE = "ads:write"

LIST_TYPES = ("EMAIL", "IDFA", "MAID", "LR_ID", "DLX_ID", "HASHED_PINNER_ID")
# Device ids must arrive hashed; emails may be plain (lower-case) or hashed.
HASHED_ONLY_LIST_TYPES = ("IDFA", "MAID")
_DIGEST = re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}")
# A new list or a changed one shows PROCESSING this long; then READY from this many users.
PROCESSING_S = 5
READY_FROM = 100
PAGE_SIZE_DEFAULT = 25
PAGE_SIZE_MAX = 250

# (HTTP status, Pinterest code)
BAD_REQUEST = (400, 1)
AUTHENTICATION_FAILED = (401, 2)
MISSING_SCOPE = (401, 3)
NOT_FOUND = (404, 4)
RATE_LIMITED = (429, 8)
UNAVAILABLE = (503, 9)
NOT_PERMITTED = (403, 29)


class PinterestError(CallError):
    def __init__(self, kind: tuple[int, int], message: str, *, oversize: bool = False):
        super().__init__(message, oversize=oversize)
        self.status, self.code = kind


def _error(kind: tuple[int, int], message: str) -> HttpResponse:
    status, code = kind
    return json_response({"code": code, "message": message}, status=status)


def _refusal(refusal: str) -> HttpResponse:
    if refusal in (gate.RATE_LIMITED, gate.STORM):
        return _error(RATE_LIMITED, "You have exceeded your rate limit. Try again later.")
    return _error(UNAVAILABLE, "Service unavailable. Please try again later.")


def _authenticate(request, scope: str) -> Callable[[sqlite3.Connection, float], dict | HttpResponse]:
    authorization = request.headers.get("Authorization", "")
    token = authorization[7:] if authorization[:7].lower() == "bearer " else ""

    def authenticate(db: sqlite3.Connection, now: float) -> dict | HttpResponse:
        grant = token and oauth.token_grant(
            db, partner=PINTEREST, token=token, kind=oauth.ACCESS, now=now
        )
        if not grant:
            return _error(AUTHENTICATION_FAILED, "Authentication failed.")
        if scope not in grant["scopes"].split(","):
            return _error(MISSING_SCOPE, f"Authorization failed: the token lacks scope {scope}.")
        return grant

    return authenticate


def _serve(request, *, apply: Apply, scope: str, upload: bool = False) -> HttpResponse:
    """One API call, answered the Pinterest way (``calls.call_serve``)."""
    dialect = Dialect(
        partner=PINTEREST, authenticate=_authenticate(request, scope),
        rate=lambda limits: limits.pinterest_rate,
        refused=lambda refusal, limits: _refusal(refusal),
        failed=lambda error: _error((error.status, error.code), error.message),
        done=json_response,
    )
    return call_serve(dialect=dialect, apply=apply, upload=upload)


def _object_body(request) -> dict:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise PinterestError(BAD_REQUEST, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise PinterestError(BAD_REQUEST, "The request body must be a JSON object.")
    return body


def _ad_account(ad_account_id: str) -> str:
    if ad_account_id not in world.PINTEREST_AD_ACCOUNTS:
        raise PinterestError(NOT_PERMITTED, "You are not permitted to access that resource.")
    return ad_account_id


def _page(params) -> tuple[int, int]:
    """(offset, page_size) from ``bookmark`` and ``page_size``."""
    try:
        page_size = int(params.get("page_size") or PAGE_SIZE_DEFAULT)
    except ValueError:
        raise PinterestError(BAD_REQUEST, "page_size must be an integer.") from None
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise PinterestError(BAD_REQUEST, f"page_size must be between 1 and {PAGE_SIZE_MAX}.")
    bookmark = params.get("bookmark")
    if not bookmark:
        return 0, page_size
    try:
        offset = int(base64.urlsafe_b64decode(bookmark.encode()).decode())
    except (ValueError, binascii.Error):
        offset = -1
    if offset < 0:
        raise PinterestError(BAD_REQUEST, "Invalid bookmark.")
    return offset, page_size


def _paged(items: list, offset: int, page_size: int, total: int) -> dict:
    following = offset + page_size
    bookmark = base64.urlsafe_b64encode(str(following).encode()).decode()
    return {"items": items, "bookmark": bookmark if following < total else None}


def _records(value: object, *, limits: gate.Limits) -> list[str]:
    """The records of a comma-separated string, refusing an empty or oversized batch."""
    if not isinstance(value, str):
        raise PinterestError(BAD_REQUEST, "records must be one comma-separated string.")
    records = [record.strip() for record in value.split(",")]
    records = [record for record in records if record]
    if not records:
        raise PinterestError(BAD_REQUEST, "records must not be empty.")
    if limits.enabled and len(records) > limits.pinterest_max_records:
        raise PinterestError(
            BAD_REQUEST,
            f"There are too many records in this request: {len(records)}, at most"
            f" {limits.pinterest_max_records}.",
            oversize=True,
        )
    return records


def _records_check(records: list[str], *, list_type: str) -> None:
    for index, record in enumerate(records):
        if _DIGEST.fullmatch(record):
            continue
        plain_email = list_type == "EMAIL" and "@" in record and record == record.lower()
        if list_type in HASHED_ONLY_LIST_TYPES or (list_type == "EMAIL" and not plain_email):
            raise PinterestError(
                BAD_REQUEST,
                f"records[{index}] is not a valid {list_type} record: send a lower-case hex"
                " MD5, SHA-1 or SHA-256 digest"
                + (" or a lower-case email address." if list_type == "EMAIL" else "."),
            )


def _customer_list(db, *, ad_account_id: str, list_id: str):
    row = db.execute(
        "SELECT * FROM audiences WHERE partner = ? AND ad_account_id = ? AND audience_id = ?"
        " AND deleted_at IS NULL",
        (PINTEREST, ad_account_id, list_id),
    ).fetchone()
    if row is None:
        raise PinterestError(NOT_FOUND, f"Customer list {list_id} not found.")
    return row


def _customer_list_object(row, *, now: float) -> dict:
    if now - row["updated_at"] < PROCESSING_S:
        status = "PROCESSING"
    else:
        status = "READY" if row["present"] >= READY_FROM else "TOO_SMALL"
    return {
        "id": row["audience_id"],
        "ad_account_id": row["ad_account_id"],
        "name": row["name"],
        "list_type": row["audience_type"],
        "status": status,
        "type": "customerlist",
        "num_batches": row["num_batches"],
        "num_uploaded_user_records": row["received_add"],
        "num_removed_user_records": row["received_remove"],
        "created_time": int(row["created_at"]),
        "updated_time": int(row["updated_at"]),
        "exceptions": {},
    }


# --- OAuth -----------------------------------------------------------------------------------


def _client_authenticated(request) -> bool:
    authorization = request.headers.get("Authorization", "")
    if authorization[:6].lower() != "basic ":
        return False
    try:
        client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
    except (ValueError, binascii.Error):
        return False
    return client_id == conf.pinterest_client_id() and secret == conf.pinterest_client_secret()


@sandbox_view
@require_POST
def oauth_token(request) -> HttpResponse:
    """Token exchange and refresh. Not rate limited. Errors follow OAuth: a bad client is 401,
    a bad code or refresh token 400."""
    if not _client_authenticated(request):
        return _error(AUTHENTICATION_FAILED, "Authentication failed.")
    now = time.time()
    grant_type = request.POST.get("grant_type")
    with store.write() as db:
        if grant_type == "authorization_code":
            grant = oauth.code_redeem(
                db, partner=PINTEREST, code=request.POST.get("code", ""), now=now
            )
            if grant is None:
                return _error(BAD_REQUEST, "Invalid authorization code: unknown, used or expired.")
            if request.POST.get("redirect_uri", "") != grant["redirect_uri"]:
                return _error(BAD_REQUEST, "redirect_uri does not match the authorization request.")
            refresh_token = oauth.token_issue(
                db, grant_id=grant["id"], kind=oauth.REFRESH, now=now,
                lifetime_s=REFRESH_TOKEN_LIFETIME_S, prefix=REFRESH_TOKEN_PREFIX,
            )
            refresh_expires_at = now + REFRESH_TOKEN_LIFETIME_S
        elif grant_type == "refresh_token":
            refresh_token = request.POST.get("refresh_token", "")
            grant = oauth.token_grant(
                db, partner=PINTEREST, token=refresh_token, kind=oauth.REFRESH, now=now
            )
            if grant is None:
                return _error(BAD_REQUEST, "Invalid refresh token: unknown, revoked or expired.")
            # Continuous refresh: each use gives the refresh token another 60 days.
            refresh_expires_at = oauth.token_extend(
                db, token=refresh_token, lifetime_s=REFRESH_TOKEN_LIFETIME_S, now=now
            )
        else:
            return _error(BAD_REQUEST, "grant_type must be authorization_code or refresh_token.")
        access_token = oauth.token_issue(
            db, grant_id=grant["id"], kind=oauth.ACCESS, now=now,
            lifetime_s=ACCESS_TOKEN_LIFETIME_S, prefix=ACCESS_TOKEN_PREFIX,
        )
    return json_response({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME_S,
        "scope": grant["scopes"],
        "refresh_token": refresh_token,
        "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_S,
        "refresh_token_expires_at": int(refresh_expires_at),
    })


# --- ad accounts, customer lists, audiences ----------------------------------------------------


@sandbox_view
@require_http_methods(["GET"])
def ad_accounts(request) -> HttpResponse:
    def apply(db, limits, now):
        offset, page_size = _page(request.GET)
        accounts = list(world.PINTEREST_AD_ACCOUNTS.items())
        items = [
            {
                "id": ad_account_id,
                "name": name,
                "owner": world.PINTEREST_OWNER,
                "country": country,
                "currency": currency,
                "permissions": ["OWNER"],
            }
            for ad_account_id, (name, country, currency) in accounts[offset : offset + page_size]
        ]
        return _paged(items, offset, page_size, len(accounts))

    return _serve(request, apply=apply, scope=READ_SCOPE)


@sandbox_view
@require_http_methods(["GET", "POST"])
def customer_lists(request, ad_account_id: str) -> HttpResponse:
    def listing(db, limits, now):
        _ad_account(ad_account_id)
        offset, page_size = _page(request.GET)
        total, rows = world.audiences_page(db, partner=PINTEREST, ad_account_id=ad_account_id,
                                           limit=page_size, offset=offset)
        items = [_customer_list_object(row, now=now) for row in rows]
        return _paged(items, offset, page_size, total)

    def create(db, limits, now):
        _ad_account(ad_account_id)
        body = _object_body(request)
        records = _records(body.get("records"), limits=limits)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PinterestError(BAD_REQUEST, "name is required.")
        list_type = body.get("list_type", "EMAIL")
        if list_type not in LIST_TYPES:
            raise PinterestError(BAD_REQUEST, f"list_type must be one of {', '.join(LIST_TYPES)}.")
        _records_check(records, list_type=list_type)
        list_id = world.pinterest_list_id_next(db)
        audience_pk = world.audience_insert(
            db, partner=PINTEREST, ad_account_id=ad_account_id, audience_id=list_id, name=name,
            audience_type=list_type, now=now,
        )
        members.members_add(
            db, audience_pk=audience_pk, members=members.member_entries(records), now=now
        )
        row = _customer_list(db, ad_account_id=ad_account_id, list_id=list_id)
        return _customer_list_object(row, now=now)

    if request.method == "POST":
        return _serve(request, apply=create, scope=WRITE_SCOPE, upload=True)
    return _serve(request, apply=listing, scope=READ_SCOPE)


@sandbox_view
@require_http_methods(["GET", "PATCH"])
def customer_list(request, ad_account_id: str, list_id: str) -> HttpResponse:
    def read(db, limits, now):
        _ad_account(ad_account_id)
        row = _customer_list(db, ad_account_id=ad_account_id, list_id=list_id)
        return _customer_list_object(row, now=now)

    def update(db, limits, now):
        _ad_account(ad_account_id)
        row = _customer_list(db, ad_account_id=ad_account_id, list_id=list_id)
        body = _object_body(request)
        records = _records(body.get("records"), limits=limits)
        operation = body.get("operation_type")
        if operation not in ("ADD", "REMOVE"):
            raise PinterestError(BAD_REQUEST, "operation_type must be ADD or REMOVE.")
        _records_check(records, list_type=row["audience_type"])
        change = members.members_add if operation == "ADD" else members.members_remove
        change(db, audience_pk=row["pk"], members=members.member_entries(records), now=now)
        row = _customer_list(db, ad_account_id=ad_account_id, list_id=list_id)
        return _customer_list_object(row, now=now)

    if request.method == "PATCH":
        return _serve(request, apply=update, scope=WRITE_SCOPE, upload=True)
    return _serve(request, apply=read, scope=READ_SCOPE)


def _audience_object(row) -> dict:
    present = row["present"]
    if row["audience_type"] == ACTALIKE:  # built from its seed over 24-48 hours
        rule, size, status = orjson.loads(row["rule"]), None, "PROCESSING"
    else:
        rule = {"customer_list_id": row["customer_list_id"]}
        size, status = (present if present >= READY_FROM else None), "READY"
    return {
        "id": row["id"],
        "ad_account_id": row["ad_account_id"],
        "name": row["name"],
        "description": row["description"],
        "audience_type": row["audience_type"],
        "rule": rule,
        "size": size,
        "status": status,
        "type": "audience",
        "created_timestamp": int(row["created_at"]),
        "updated_timestamp": int(row["created_at"]),
    }


_AUDIENCE_SELECT = (
    "SELECT pinterest_audiences.*, coalesce(audiences.present, 0) AS present"
    " FROM pinterest_audiences LEFT JOIN audiences ON audiences.partner = 'pinterest'"
    " AND audiences.audience_id = pinterest_audiences.customer_list_id"
)


@sandbox_view
@require_http_methods(["GET", "POST"])
def audiences(request, ad_account_id: str) -> HttpResponse:
    def listing(db, limits, now):
        _ad_account(ad_account_id)
        offset, page_size = _page(request.GET)
        (total,) = db.execute(
            "SELECT count(*) FROM pinterest_audiences WHERE ad_account_id = ?", (ad_account_id,)
        ).fetchone()
        rows = db.execute(
            f"{_AUDIENCE_SELECT} WHERE pinterest_audiences.ad_account_id = ?"
            " ORDER BY pinterest_audiences.created_at, pinterest_audiences.id LIMIT ? OFFSET ?",
            (ad_account_id, page_size, offset),
        ).fetchall()
        items = [_audience_object(row) for row in rows]
        return _paged(items, offset, page_size, total)

    def create(db, limits, now):
        _ad_account(ad_account_id)
        body = _object_body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PinterestError(BAD_REQUEST, "name is required.")
        if body.get("audience_type") == ACTALIKE:
            return _actalike_create(db, ad_account_id=ad_account_id, name=name, body=body,
                                    now=now)
        if body.get("audience_type") != "CUSTOMER_LIST":
            raise PinterestError(
                BAD_REQUEST, "audience_type must be CUSTOMER_LIST or ACTALIKE (the types the "
                "sandbox has).")
        rule = body.get("rule")
        list_id = rule.get("customer_list_id") if isinstance(rule, dict) else None
        if not isinstance(list_id, str) or not list_id:
            raise PinterestError(BAD_REQUEST, "rule.customer_list_id is required.")
        _customer_list(db, ad_account_id=ad_account_id, list_id=list_id)
        audience_id = world.pinterest_audience_id_next(db)
        db.execute(
            "INSERT INTO pinterest_audiences"
            " (id, ad_account_id, name, description, customer_list_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (audience_id, ad_account_id, name, str(body.get("description") or ""), list_id, now),
        )
        row = db.execute(
            f"{_AUDIENCE_SELECT} WHERE pinterest_audiences.id = ?", (audience_id,)
        ).fetchone()
        return _audience_object(row)

    if request.method == "POST":
        return _serve(request, apply=create, scope=WRITE_SCOPE)
    return _serve(request, apply=listing, scope=READ_SCOPE)


ACTALIKE = "ACTALIKE"
COUNTRY = re.compile(r"^[A-Z]{2}$")


def _actalike_create(db, *, ad_account_id: str, name: str, body: dict, now: float) -> dict:
    """An actalike of seed audiences: the seeds need about 100 matched users together."""
    rule = body.get("rule")
    rule = rule if isinstance(rule, dict) else {}
    seeds, country, percentage = rule.get("seed_id"), rule.get("country"), rule.get("percentage")
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(seed, str) and seed for seed in seeds)):
        raise PinterestError(BAD_REQUEST, "rule.seed_id must be a non-empty list of audience ids.")
    if not isinstance(country, str) or not COUNTRY.match(country):
        raise PinterestError(BAD_REQUEST, "rule.country must be a two-letter country code.")
    if isinstance(percentage, bool) or not isinstance(percentage, int) or not 1 <= percentage <= 10:
        raise PinterestError(BAD_REQUEST, "rule.percentage must be an integer from 1 to 10.")
    matched = 0
    for seed in seeds:
        row = db.execute(f"{_AUDIENCE_SELECT} WHERE pinterest_audiences.id = ?"
                         " AND pinterest_audiences.ad_account_id = ?",
                         (seed, ad_account_id)).fetchone()
        if row is None:
            raise PinterestError(NOT_FOUND, f"Seed audience {seed} not found.")
        matched += row["present"]
    if matched < READY_FROM:
        raise PinterestError(BAD_REQUEST, "The seed audience is too small to create an actalike"
                                          f" audience: at least {READY_FROM} matched users are"
                                          " needed.")
    audience_id = world.pinterest_audience_id_next(db)
    stored_rule = {"seed_id": seeds, "country": country, "percentage": percentage}
    db.execute(
        "INSERT INTO pinterest_audiences (id, ad_account_id, name, description,"
        " customer_list_id, created_at, audience_type, rule) VALUES (?, ?, ?, ?, '', ?, ?, ?)",
        (audience_id, ad_account_id, name, str(body.get("description") or ""), now, ACTALIKE,
         orjson.dumps(stored_rule).decode()))
    row = db.execute(f"{_AUDIENCE_SELECT} WHERE pinterest_audiences.id = ?",
                     (audience_id,)).fetchone()
    return _audience_object(row)


@sandbox_view
@require_http_methods(["PATCH"])
def audience(request, ad_account_id: str, audience_id: str) -> HttpResponse:
    """PATCH with operation_type REMOVE archives the audience: it leaves the listing."""

    def archive(db, limits, now):
        _ad_account(ad_account_id)
        body = _object_body(request)
        if body.get("operation_type") != "REMOVE":
            raise PinterestError(BAD_REQUEST, "operation_type must be REMOVE.")
        row = db.execute(
            f"{_AUDIENCE_SELECT} WHERE pinterest_audiences.id = ?"
            " AND pinterest_audiences.ad_account_id = ?", (audience_id, ad_account_id),
        ).fetchone()
        if row is None:
            raise PinterestError(NOT_FOUND, "Audience not found.")
        db.execute("DELETE FROM pinterest_audiences WHERE id = ?", (audience_id,))
        return {**_audience_object(row), "status": "ARCHIVED"}

    return _serve(request, apply=archive, scope=WRITE_SCOPE)


@sandbox_view
def path_not_found(request, path: str = "") -> HttpResponse:
    return _error(NOT_FOUND, "Not found.")
