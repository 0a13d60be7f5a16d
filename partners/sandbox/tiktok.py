"""TikTok API for Business (Marketing API v1.3), as the product's client meets it.

Every answer is HTTP 200 with ``{code, message, request_id, data}``; only code 0 is success.
A path without its trailing slash is a plain HTTP 404, as at TikTok.
"""

from __future__ import annotations

import math
import re
import secrets
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from . import conf, gate, members, oauth, store, world
from .calls import Apply, CallError, Dialect, call_serve
from .web import json_response, sandbox_view
from .world import TIKTOK

CODE_OK = 0
CODE_BAD_REQUEST = 40000
CODE_NO_PERMISSION = 40001
CODE_INVALID_PARAMS = 40002
CODE_NOT_FOUND = 40007
CODE_TOO_MANY_IDS = 40011
CODE_RATE_LIMITED = 40100
CODE_TOKEN_MISSING = 40104
CODE_TOKEN_INVALID = 40105
CODE_AUTH_CODE_INVALID = 40110
CODE_SYSTEM_ERROR = 50000

TOKEN_INVALID_MESSAGE = "Access token is invalid or has been revoked."
NOT_JSON_MESSAGE = "The request body is not valid JSON."
RATE_SCOPE = "tiktok:app"
# The scopes a token carries; 3 is audience management.
TOKEN_SCOPES = [3]
NAME_MAX = 70
AUDIENCE_PAGE_SIZE_DEFAULT = 10
AUDIENCE_PAGE_SIZE_MAX = 100

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
ID_FORMATS = {
    "EMAIL_SHA256": (_SHA256, "SHA-256"),
    "PHONE_SHA256": (_SHA256, "SHA-256"),
    "IDFA_SHA256": (_SHA256, "SHA-256"),
    "AAID_SHA256": (_SHA256, "SHA-256"),
    "IDFA_MD5": (_MD5, "MD5"),
    "AAID_MD5": (_MD5, "MD5"),
}


class TikTokError(CallError):
    def __init__(self, code: int, message: str, *, oversize: bool = False):
        super().__init__(message, oversize=oversize)
        self.code = code


def _answer(code: int, message: str, data: dict | None = None) -> HttpResponse:
    request_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()
    return json_response(
        {"code": code, "message": message, "request_id": request_id, "data": data or {}}
    )


def _refusal(refusal: str, limits: gate.Limits) -> tuple[int, str]:
    if refusal == gate.RATE_LIMITED_IN + "minute":
        return CODE_RATE_LIMITED, (
            "Too many requests: the app exceeded its limit of "
            f"{limits.tiktok_rate_per_min} requests per minute. Please retry later.")
    if refusal == gate.RATE_LIMITED_IN + "day":
        return CODE_RATE_LIMITED, (
            "Too many requests: the app exceeded its limit of "
            f"{limits.tiktok_rate_per_day} requests per day. Please retry after 00:00 UTC.")
    if refusal in (gate.RATE_LIMITED, gate.STORM):
        return CODE_RATE_LIMITED, (
            "Too many requests: the app exceeded its limit of "
            f"{limits.tiktok_rate:g} requests per second. Please retry later."
        )
    if refusal == gate.NOT_EDITABLE:
        return CODE_INVALID_PARAMS, (
            "The audience is being processed and is not editable now. Please retry later."
        )
    return CODE_SYSTEM_ERROR, "System error, please try again later."


def _authenticate(request) -> Callable[[sqlite3.Connection, float], dict | HttpResponse]:
    token = request.headers.get("Access-Token", "")

    def authenticate(db: sqlite3.Connection, now: float) -> dict | HttpResponse:
        if not token:
            return _answer(CODE_TOKEN_MISSING, "Access token is null, please check your request.")
        grant = oauth.token_grant(db, partner=TIKTOK, token=token, kind=oauth.ACCESS, now=now)
        return _answer(CODE_TOKEN_INVALID, TOKEN_INVALID_MESSAGE) if grant is None else grant

    return authenticate


def _serve(request, *, apply: Apply, upload: bool = False) -> HttpResponse:
    """One API call, answered the TikTok way (``calls.call_serve``)."""
    dialect = Dialect(
        partner=TIKTOK, authenticate=_authenticate(request),
        rate=lambda limits: limits.tiktok_rate,
        windows=lambda limits: [
            gate.CountedWindow("minute", 60.0, limits.tiktok_rate_per_min),
            gate.CountedWindow("day", 86_400.0, limits.tiktok_rate_per_day)],
        refused=lambda refusal, limits: _answer(*_refusal(refusal, limits)),
        failed=lambda error: _answer(error.code, error.message),
        done=lambda data: _answer(CODE_OK, "OK", data),
    )
    return call_serve(dialect=dialect, apply=apply, upload=upload)


def _object_body(request) -> dict:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise TikTokError(CODE_BAD_REQUEST, NOT_JSON_MESSAGE) from None
    if not isinstance(body, dict):
        raise TikTokError(CODE_BAD_REQUEST, "The request body must be a JSON object.")
    return body


def _app_check(app_id: object, secret: object) -> None:
    if app_id != conf.tiktok_app_id() or secret != conf.tiktok_secret():
        raise TikTokError(CODE_NO_PERMISSION, "The app_id or secret is invalid.")


def _advertiser(advertiser_id: object) -> str:
    if not isinstance(advertiser_id, str) or not advertiser_id:
        raise TikTokError(CODE_INVALID_PARAMS, "advertiser_id is required.")
    if advertiser_id not in world.TIKTOK_ADVERTISERS:
        raise TikTokError(
            CODE_NO_PERMISSION, f"No permission to operate advertiser {advertiser_id}."
        )
    return advertiser_id


def _int_param(params, name: str, *, default: int, low: int, high: int | None = None) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TikTokError(CODE_INVALID_PARAMS, f"{name} must be an integer.") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise TikTokError(CODE_INVALID_PARAMS, f"{name} must be {bounds}.")
    return value


def _audience(db, *, advertiser_ids, audience_id: str):
    placeholders = ", ".join("?" * len(advertiser_ids))
    row = db.execute(
        "SELECT * FROM audiences WHERE partner = ? AND audience_id = ? AND deleted_at IS NULL"
        f" AND ad_account_id IN ({placeholders})",
        (TIKTOK, audience_id, *advertiser_ids),
    ).fetchone()
    if row is None:
        raise TikTokError(CODE_NOT_FOUND, f"Audience {audience_id} does not exist.")
    return row


# --- OAuth -----------------------------------------------------------------------------------


@sandbox_view
@require_POST
def access_token(request) -> HttpResponse:
    now = time.time()
    try:
        body = _object_body(request)
        _app_check(body.get("app_id"), body.get("secret"))
        auth_code = body.get("auth_code")
        if not isinstance(auth_code, str) or not auth_code:
            raise TikTokError(CODE_INVALID_PARAMS, "auth_code is required.")
        with store.write() as db:
            grant = oauth.code_redeem(db, partner=TIKTOK, code=auth_code, now=now)
            if grant is None:
                raise TikTokError(
                    CODE_AUTH_CODE_INVALID, "The auth_code is invalid, used or expired."
                )
            token = oauth.token_issue(db, grant_id=grant["id"], kind=oauth.ACCESS, now=now)
    except TikTokError as error:
        return _answer(error.code, error.message)
    data = {
        "access_token": token,
        "advertiser_ids": list(world.TIKTOK_ADVERTISERS),
        "scope": TOKEN_SCOPES,
    }
    return _answer(CODE_OK, "OK", data)


@sandbox_view
@require_POST
def revoke_token(request) -> HttpResponse:
    now = time.time()
    try:
        body = _object_body(request)
        _app_check(body.get("app_id"), body.get("secret"))
        token = body.get("access_token")
        with store.write() as db:
            live = isinstance(token, str) and oauth.token_grant(
                db, partner=TIKTOK, token=token, kind=oauth.ACCESS, now=now
            )
            if not live:
                raise TikTokError(CODE_TOKEN_INVALID, TOKEN_INVALID_MESSAGE)
            oauth.tokens_revoke(db, token=token, now=now)
    except TikTokError as error:
        return _answer(error.code, error.message)
    return _answer(CODE_OK, "OK")


# --- ad accounts and audiences -----------------------------------------------------------------


@sandbox_view
@require_GET
def advertiser_get(request) -> HttpResponse:
    def apply(db, limits, now):
        _app_check(request.GET.get("app_id"), request.GET.get("secret"))
        return {
            "list": [
                {"advertiser_id": advertiser_id, "advertiser_name": name}
                for advertiser_id, name in world.TIKTOK_ADVERTISERS.items()
            ]
        }

    return _serve(request, apply=apply)


@sandbox_view
@require_POST
def segment_audience(request) -> HttpResponse:
    def apply(db, limits, now):
        body = _object_body(request)
        advertiser_id = _advertiser(body.get("advertiser_id"))
        action = body.get("action")
        if action == "create":
            return _audience_create(
                db, advertiser_id=advertiser_id, name=body.get("custom_audience_name"),
                limits=limits, now=now,
            )
        if action == "delete":
            return _audience_delete(
                db, advertiser_id=advertiser_id, audience_ids=body.get("delete_audience_id"),
                now=now,
            )
        raise TikTokError(CODE_INVALID_PARAMS, "action must be create or delete.")

    return _serve(request, apply=apply)


def _audience_create(db, *, advertiser_id: str, name: object, limits, now: float) -> dict:
    if not isinstance(name, str) or not name.strip():
        raise TikTokError(CODE_INVALID_PARAMS, "custom_audience_name is required.")
    if len(name) > NAME_MAX:
        name = name[: NAME_MAX - 3] + "..."
    if limits.enabled:
        (count,) = db.execute(
            "SELECT count(*) FROM audiences WHERE partner = ? AND ad_account_id = ?"
            " AND deleted_at IS NULL",
            (TIKTOK, advertiser_id),
        ).fetchone()
        if count >= limits.tiktok_max_audiences:
            raise TikTokError(
                CODE_INVALID_PARAMS,
                f"The advertiser has reached the limit of {limits.tiktok_max_audiences} custom"
                " audiences. Delete an audience before creating another.",
            )
    audience_id = world.tiktok_audience_id_next(db)
    world.audience_insert(
        db, partner=TIKTOK, ad_account_id=advertiser_id, audience_id=audience_id, name=name,
        audience_type=world.STREAMING_AUDIENCE_TYPE, now=now,
    )
    return {"audience_id": audience_id}


LOOKALIKE_SIZES = ("NARROW", "BALANCED", "BROAD")


@sandbox_view
@require_POST
def lookalike_create(request) -> HttpResponse:
    """A look-alike of a source audience: needs about 1,000 matched users in the source;
    it builds for 24-48 hours and takes no users (no segment/mapping)."""

    def apply(db, limits, now):
        body = _object_body(request)
        advertiser_id = _advertiser(body.get("advertiser_id"))
        name = body.get("custom_audience_name")
        if not isinstance(name, str) or not name.strip():
            raise TikTokError(CODE_INVALID_PARAMS, "custom_audience_name is required.")
        spec = body.get("lookalike_spec")
        if not isinstance(spec, dict):
            raise TikTokError(CODE_INVALID_PARAMS, "lookalike_spec is required.")
        source_id = spec.get("source_audience_id")
        if not isinstance(source_id, str) or not source_id:
            raise TikTokError(CODE_INVALID_PARAMS, "lookalike_spec.source_audience_id is required.")
        if spec.get("audience_size") not in LOOKALIKE_SIZES:
            raise TikTokError(CODE_INVALID_PARAMS, "lookalike_spec.audience_size must be one of "
                                                   f"{', '.join(LOOKALIKE_SIZES)}.")
        locations = spec.get("location_ids")
        if (not isinstance(locations, list) or not locations
                or not all(isinstance(i, str) and i.isdigit() for i in locations)):
            raise TikTokError(CODE_INVALID_PARAMS,
                              "lookalike_spec.location_ids must be a non-empty list of ids.")
        source = db.execute(
            "SELECT * FROM audiences WHERE partner = ? AND ad_account_id = ? AND audience_id = ?"
            " AND deleted_at IS NULL", (TIKTOK, advertiser_id, source_id)).fetchone()
        if source is None:
            raise TikTokError(CODE_NOT_FOUND, f"Audience {source_id} does not exist.")
        if source["present"] < SIZE_SHOWN_FROM:
            raise TikTokError(
                CODE_INVALID_PARAMS,
                f"The source audience is too small to create a lookalike audience: it needs at"
                f" least {SIZE_SHOWN_FROM:,} matched users.")
        audience_id = world.tiktok_audience_id_next(db)
        world.audience_insert(db, partner=TIKTOK, ad_account_id=advertiser_id,
                              audience_id=audience_id, name=name[:NAME_MAX],
                              audience_type=world.LOOKALIKE_AUDIENCE_TYPE, now=now)
        return {"custom_audience_id": audience_id}

    return _serve(request, apply=apply)


def _audience_delete(db, *, advertiser_id: str, audience_ids: object, now: float) -> dict:
    if isinstance(audience_ids, str):
        audience_ids = [audience_ids]
    if (
        not isinstance(audience_ids, list)
        or not audience_ids
        or not all(isinstance(audience_id, str) for audience_id in audience_ids)
    ):
        raise TikTokError(CODE_INVALID_PARAMS, "delete_audience_id is required.")
    for audience_id in audience_ids:
        row = _audience(db, advertiser_ids=[advertiser_id], audience_id=audience_id)
        db.execute("UPDATE audiences SET deleted_at = ? WHERE pk = ?", (now, row["pk"]))
    return {}


@sandbox_view
@require_GET
def custom_audience_list(request) -> HttpResponse:
    def apply(db, limits, now):
        advertiser_id = _advertiser(request.GET.get("advertiser_id"))
        page = _int_param(request.GET, "page", default=1, low=1)
        page_size = _int_param(
            request.GET, "page_size", default=AUDIENCE_PAGE_SIZE_DEFAULT, low=1,
            high=AUDIENCE_PAGE_SIZE_MAX,
        )
        total, rows = world.audiences_page(
            db, partner=TIKTOK, ad_account_id=advertiser_id, limit=page_size,
            offset=(page - 1) * page_size, newest_first=True)
        return {
            "list": [_audience_item(row) for row in rows],
            "page_info": {
                "page": page,
                "page_size": page_size,
                "total_number": total,
                "total_page": math.ceil(total / page_size),
            },
        }

    return _serve(request, apply=apply)


# TikTok shows an audience's size only once about this many users match.
SIZE_SHOWN_FROM = 1000


def _audience_item(row) -> dict:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["created_at"]))
    return {
        "audience_id": row["audience_id"],
        "name": row["name"],
        "audience_type": row["audience_type"],
        "cover_num": row["present"] if row["present"] >= SIZE_SHOWN_FROM else 0,
        # A look-alike made through the API is still being built (24-48 hours).
        "is_valid": row["audience_type"] != world.LOOKALIKE_AUDIENCE_TYPE or bool(
            row["preexisting"]),
        "is_expiring": False,
        "is_creator": True,
        "shared": False,
        "create_time": created,
    }


# --- users ------------------------------------------------------------------------------------


@dataclass
class MappingUpload:
    """A parsed segment/mapping body. Parsing happens before the write lock is taken; an error
    found is answered only after the call was authenticated and admitted, as TikTok does."""

    rows: int = 0
    error: TikTokError | None = None
    advertiser_ids: list[str] = field(default_factory=list)
    add: bool = True
    members_by_audience: dict[str, list[members.Member]] = field(default_factory=dict)


@sandbox_view
@require_POST
def segment_mapping(request) -> HttpResponse:
    upload = _mapping_parse(request.body)

    def apply(db, limits, now):
        if limits.enabled and upload.rows > limits.tiktok_max_rows:
            raise TikTokError(
                CODE_TOO_MANY_IDS,
                f"Too many users in one request: {upload.rows} rows in batch_data, at most"
                f" {limits.tiktok_max_rows}.",
                oversize=True,
            )
        if upload.error is not None:
            raise upload.error
        for advertiser_id in upload.advertiser_ids:
            _advertiser(advertiser_id)
        targets = []
        for audience_id, entries in upload.members_by_audience.items():
            audience = _audience(db, advertiser_ids=upload.advertiser_ids, audience_id=audience_id)
            if audience["audience_type"] != world.STREAMING_AUDIENCE_TYPE:
                raise TikTokError(
                    CODE_NOT_FOUND,
                    f"Audience {audience_id} does not exist as a partner audience: only"
                    f" {world.STREAMING_AUDIENCE_TYPE} audiences take segment/mapping.",
                )
            targets.append((audience["pk"], entries))
        change = members.members_add if upload.add else members.members_remove
        for audience_pk, entries in targets:
            change(db, audience_pk=audience_pk, members=entries, now=now)
        return {}

    return _serve(request, apply=apply, upload=True)


def _mapping_parse(raw: bytes) -> MappingUpload:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return MappingUpload(error=TikTokError(CODE_BAD_REQUEST, NOT_JSON_MESSAGE))
    if not isinstance(body, dict):
        return MappingUpload(
            error=TikTokError(CODE_BAD_REQUEST, "The request body must be a JSON object.")
        )
    batch_data = body.get("batch_data")
    rows = len(batch_data) if isinstance(batch_data, list) else 0
    try:
        return _mapping_validate(body, batch_data)
    except TikTokError as error:
        return MappingUpload(rows=rows, error=error)


def _invalid(message: str) -> TikTokError:
    return TikTokError(CODE_INVALID_PARAMS, message)


def _mapping_validate(body: dict, batch_data: object) -> MappingUpload:
    advertiser_ids = body.get("advertiser_ids")
    if (
        not isinstance(advertiser_ids, list)
        or not advertiser_ids
        or not all(isinstance(advertiser_id, str) for advertiser_id in advertiser_ids)
    ):
        raise _invalid("advertiser_ids must be a non-empty list of advertiser ids (strings).")
    action = body.get("action")
    if action not in ("add", "delete"):
        raise _invalid("action must be add or delete.")
    id_schema = body.get("id_schema")
    if not isinstance(id_schema, list) or not id_schema:
        raise _invalid("id_schema must be a non-empty list of id types.")
    unknown = [
        id_type
        for id_type in id_schema
        if not isinstance(id_type, str) or id_type not in ID_FORMATS
    ]
    if unknown:
        raise _invalid(
            f"Unknown id types in id_schema: {unknown}. Supported: {', '.join(ID_FORMATS)}."
        )
    if len(set(id_schema)) != len(id_schema):
        raise _invalid("id_schema must not repeat an id type.")
    if not isinstance(batch_data, list) or not batch_data:
        raise _invalid("batch_data must be a non-empty list of users.")

    # The hot loop of the sandbox (10,000 rows per call): rows are grouped by their target
    # audiences, which are checked once per distinct group rather than once per id.
    width = len(id_schema)
    formats = [(f"{id_type}:", id_type, *ID_FORMATS[id_type]) for id_type in id_schema]
    keys_by_targets: dict[tuple, list[str]] = {}
    for index, row in enumerate(batch_data):
        if type(row) is not list or len(row) != width:
            raise _invalid(
                f"batch_data[{index}] must be a list of {width} items aligned with id_schema"
                " ({} for a missing id)."
            )
        key_parts = []
        row_targets = None
        for (prefix, id_type, pattern, digest), item in zip(formats, row, strict=True):
            if type(item) is not dict:
                raise _invalid(f"batch_data[{index}] items must be objects, {{}} for a missing id.")
            if not item:
                continue
            value = item.get("id")
            if type(value) is not str or pattern.fullmatch(value) is None:
                raise _invalid(
                    f"batch_data[{index}]: the {id_type} id must be a lower-case hex {digest}"
                    " digest."
                )
            targets = item.get("audience_ids")
            if type(targets) is not list or not targets:
                raise _invalid(f"batch_data[{index}]: audience_ids must be a non-empty list.")
            if row_targets is None or targets == row_targets:
                row_targets = targets
            else:
                row_targets = _targets_union(row_targets, targets, index=index)
            key_parts.append(prefix + value)
        if not key_parts:
            raise _invalid(f"batch_data[{index}] has no id.")
        try:
            group = keys_by_targets.setdefault(tuple(row_targets), [])
        except TypeError:
            raise _invalid(f"batch_data[{index}]: audience_ids must be strings.") from None
        group.append("|".join(key_parts))

    keys_by_audience: dict[str, list[str]] = defaultdict(list)
    for targets, keys in keys_by_targets.items():
        if not all(type(audience_id) is str for audience_id in targets):
            raise _invalid("audience_ids must be strings.")
        for audience_id in dict.fromkeys(targets):
            keys_by_audience[audience_id].extend(keys)
    return MappingUpload(
        rows=len(batch_data),
        advertiser_ids=advertiser_ids,
        add=action == "add",
        members_by_audience={
            audience_id: members.member_entries(keys)
            for audience_id, keys in keys_by_audience.items()
        },
    )


def _targets_union(first: list, second: list, *, index: int) -> list:
    """The audiences of a row whose ids name different ones (rare: clients repeat one list)."""
    try:
        return sorted(set(first) | set(second))
    except TypeError:
        raise _invalid(f"batch_data[{index}]: audience_ids must be strings.") from None


@sandbox_view
def path_not_found(request, path: str = "") -> HttpResponse:
    """Any other open_api path, notably one without its trailing slash: TikTok's bare 404."""
    return HttpResponse("404 page not found", status=404, content_type="text/plain")
