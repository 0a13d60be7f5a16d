"""TikTok API for Business (Marketing API v1.3): OAuth, advertisers, streaming audiences.

Every TikTok answer is HTTP 200 with ``{"code", "message", "request_id", "data"}``; the
code says what happened. Every path ends with "/" (without it: HTTP 404).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from .base import (
    AdAccountInfo,
    AudienceGone,
    AudienceHealth,
    AudienceInfo,
    AudienceRef,
    AudienceState,
    BatchTooLarge,
    Credentials,
    EncodedUsers,
    InvalidToken,
    LookalikeOption,
    Partner,
    PartnerError,
    Permanent,
    RateLimited,
    RateLimits,
    RateScope,
    SendResult,
    TokenSet,
    Transient,
)
from .http import PartnerClient, PartnerResponse, RateBudget

client = PartnerClient(partner_name="TikTok", base_url_setting="TIKTOK_API_BASE_URL")

SUCCESS = {0, 20001}  # 20001: partial success
REFUSED = "TikTok refused the request: "  # how a refusal's message begins
PARTIAL_SUCCESS = 20001
RATE_LIMITED = {40100, 40133}  # app level, advertiser level
INVALID_TOKEN = {40001, 40102, 40104, 40105}
AUDIENCE_GONE = {40007}
TRANSIENT = {50000, 50002, 60001, 40202}
BATCH_TOO_LARGE = {40011}
AUTH_CODE_INVALID = 40110
BAD_PARAMETERS_OR_NOT_EDITABLE = 40002
# 40002 also means "not editable" while a new audience is processed: that passes.
STILL_PROCESSING = re.compile(r"not editable|being processed|processing", re.IGNORECASE)
LIMIT_REACHED = re.compile(r"limit|maximum|exceed", re.IGNORECASE)

# Only streaming ("Partner") audiences take segment/mapping.
SYNCABLE_AUDIENCE_TYPE = "partner audience"
AUDIENCE_PAGE_SIZE = 100  # the API's maximum
# TikTok cuts longer names to 67 characters + "..."; we send what it would keep.
NAME_MAX_LENGTH = 70
ACTIONS = {"add": "add", "remove": "delete"}
# Where a look-alike looks: TikTok's location ids (GeoNames ids of countries).
LOOKALIKE_LOCATIONS = (
    ("6252001", "United States"), ("6251999", "Canada"), ("2635167", "United Kingdom"),
    ("2921044", "Germany"), ("3017382", "France"), ("2077456", "Australia"),
)


@dataclass(frozen=True)
class Answer:
    """A successful TikTok answer."""

    code: int
    message: str
    request_id: str
    data: Mapping[str, Any]
    response: PartnerResponse

    def items(self, name: str) -> list[Mapping[str, Any]]:
        items = self.data.get(name)
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise self.response.garbage(why=f"no data.{name} list")
        return items


class TikTok(Partner):
    key = "tiktok"
    name = "TikTok"
    rate_scope = RateScope.APP
    match_field_types = {
        "email": "EMAIL_SHA256",
        "phone": "PHONE_SHA256",
        "idfa": "IDFA_SHA256",
        "gaid": "AAID_SHA256",  # TikTok calls the Android id AAID; there is no GAID type
    }

    audience_name_max_length = NAME_MAX_LENGTH
    size_shown_from = 1000
    prerequisites = (
        "A TikTok for Business Center account that holds the ad accounts (advertisers) to "
        "sync to.",
        "Admin permission on those ad accounts in Business Center, for the person who "
        "connects.",
        "TikTok's Custom Audience Terms accepted in TikTok Ads Manager for each ad account.",
    )
    troubleshooting_own = (
        ("Creating an audience fails: too many audiences",
         "A TikTok ad account holds at most 400 custom audiences. Delete unused ones (the "
         "audiences page lists those made here) or choose an existing audience."),
    )

    @property
    def max_audiences_per_ad_account(self) -> int:
        return settings.TIKTOK_MAX_AUDIENCES

    @property
    def max_batch(self) -> int:
        return settings.TIKTOK_MAX_BATCH

    @property
    def rate_per_s(self) -> float:
        return settings.TIKTOK_RATE_PER_S

    @property
    def rate_limits(self) -> RateLimits:
        """The app's tier: per second, minute and day (TIKTOK_APP_TIER and overrides)."""
        return RateLimits(per_s=settings.TIKTOK_RATE_PER_S, per_min=settings.TIKTOK_RATE_PER_MIN,
                          per_day=settings.TIKTOK_RATE_PER_DAY)

    # OAuth ---------------------------------------------------------------------------------
    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        query = urlencode(
            {"app_id": settings.TIKTOK_APP_ID, "state": state, "redirect_uri": redirect_uri}
        )
        return f"{settings.TIKTOK_AUTHORIZE_URL}?{query}"

    def exchange_code(self, *, code: str, redirect_uri: str) -> TokenSet:
        answer = self._call(
            "POST", "oauth2/access_token/", credentials=None,
            body={"app_id": settings.TIKTOK_APP_ID, "secret": settings.TIKTOK_SECRET,
                  "auth_code": code},
        )
        access_token = answer.data.get("access_token")
        advertiser_ids = answer.data.get("advertiser_ids") or []
        scope = answer.data.get("scope") or []
        if not isinstance(access_token, str) or not access_token:
            raise answer.response.garbage(why="no data.access_token")
        if not isinstance(advertiser_ids, list) or not isinstance(scope, list):
            raise answer.response.garbage(why="data.advertiser_ids or data.scope is no list")
        # The token never expires and cannot be refreshed: no expiry, no refresh token.
        return TokenSet(
            access_token=access_token,
            scope=",".join(str(s) for s in scope),
            ad_account_ids=tuple(str(a) for a in advertiser_ids),
        )

    def revoke(self, *, credentials: Credentials) -> None:
        self._call(
            "POST", "oauth2/revoke_token/", credentials=credentials, token_header=False,
            body={"app_id": settings.TIKTOK_APP_ID, "secret": settings.TIKTOK_SECRET,
                  "access_token": credentials.access_token},
        )

    # Accounts and audiences ----------------------------------------------------------------
    def list_ad_accounts(self, *, credentials: Credentials) -> list[AdAccountInfo]:
        answer = self._call(
            "GET", "oauth2/advertiser/get/", credentials=credentials,
            params={"app_id": settings.TIKTOK_APP_ID, "secret": settings.TIKTOK_SECRET},
        )
        try:
            return [
                AdAccountInfo(id=str(item["advertiser_id"]),
                              name=str(item.get("advertiser_name") or ""))
                for item in answer.items("list")
            ]
        except KeyError:
            raise answer.response.garbage(why="an advertiser without advertiser_id") from None

    def list_audiences(
        self, *, credentials: Credentials, ad_account_id: str
    ) -> list[AudienceInfo]:
        return [_audience_info(item) for item in self._audience_items(
            credentials=credentials, ad_account_id=ad_account_id)]

    def audiences_state(
        self, *, credentials: Credentials, ad_account_id: str, audience_ids: Sequence[str]
    ) -> dict[str, AudienceState]:
        # The list gives cover_num and is_valid for a hundred audiences a call.
        wanted = set(audience_ids)
        return {str(item["audience_id"]): _audience_state(item)
                for item in self._audience_items(credentials=credentials,
                                                 ad_account_id=ad_account_id)
                if str(item["audience_id"]) in wanted}

    def _audience_items(
        self, *, credentials: Credentials, ad_account_id: str
    ) -> list[Mapping[str, Any]]:
        audiences: list[Mapping[str, Any]] = []
        page = 1
        while True:
            answer = self._call(
                "GET", "dmp/custom_audience/list/", credentials=credentials,
                params={"advertiser_id": ad_account_id, "page": page,
                        "page_size": AUDIENCE_PAGE_SIZE},
            )
            items = answer.items("list")
            if not all("audience_id" in item for item in items):
                raise answer.response.garbage(why="an audience without audience_id")
            audiences += items
            page_info = answer.data.get("page_info")
            total_pages = page_info.get("total_page") if isinstance(page_info, Mapping) else 1
            if not isinstance(total_pages, int) or page >= total_pages:
                return audiences
            page += 1

    def create_audience(
        self, *, credentials: Credentials, ad_account_id: str, name: str,
        match_fields: Sequence[str],
    ) -> AudienceInfo:
        if len(name) > NAME_MAX_LENGTH:
            name = name[: NAME_MAX_LENGTH - 3] + "..."
        try:
            answer = self._call(
                "POST", "segment/audience/", credentials=credentials,
                body={"advertiser_id": ad_account_id, "action": "create",
                      "custom_audience_name": name},
            )
        except Permanent as error:
            hint = ""
            if LIMIT_REACHED.search(error.message):
                hint = (f" An ad account holds at most {self.max_audiences_per_ad_account} "
                        "audiences: delete unused ones in TikTok Ads Manager.")
            raise Permanent(
                f"TikTok refused to create the audience {name!r}: {error.message}{hint}",
                request_id=error.request_id, partner_code=error.partner_code,
            ) from error
        audience_id = answer.data.get("audience_id")
        if audience_id in (None, ""):
            raise answer.response.garbage(why="no data.audience_id")
        return AudienceInfo(id=str(audience_id), name=name, kind="Partner Audience")

    def delete_audience(
        self, *, credentials: Credentials, ad_account_id: str, audience_id: str
    ) -> None:
        self._call(
            "POST", "segment/audience/", credentials=credentials,
            body={"advertiser_id": ad_account_id, "action": "delete",
                  "delete_audience_id": audience_id},
        )

    # Look-alikes ---------------------------------------------------------------------------
    lookalike_options = (
        LookalikeOption("location", "Location", choices=LOOKALIKE_LOCATIONS, default="6252001",
                        help="Where TikTok looks for people like the source audience."),
        LookalikeOption("audience_size", "Audience size", choices=(
            ("NARROW", "Narrow: the most similar people"), ("BALANCED", "Balanced"),
            ("BROAD", "Broad: the largest reach")), default="BALANCED"),
    )

    def lookalike_create(
        self, *, credentials: Credentials, ad_account_id: str, seed_id: str, name: str,
        options: dict[str, str],
    ) -> AudienceState:
        if len(name) > NAME_MAX_LENGTH:
            name = name[: NAME_MAX_LENGTH - 3] + "..."
        spec = {"source_audience_id": seed_id, "include_source": False, "mobile_os": "ALL",
                "placements": ["TIKTOK"], "location_ids": [options["location"]],
                "audience_size": options["audience_size"]}
        try:
            answer = self._call(
                "POST", "dmp/custom_audience/lookalike/create/", credentials=credentials,
                body={"advertiser_id": ad_account_id, "custom_audience_name": name,
                      "lookalike_spec": spec})
        except Permanent as error:
            raise Permanent(
                f"TikTok refused the look-alike: {error.message.removeprefix(REFUSED)} A "
                f"look-alike needs a source audience of about {SERVES_FROM:,} matched users.",
                request_id=error.request_id, partner_code=error.partner_code) from error
        audience_id = answer.data.get("custom_audience_id")
        if audience_id in (None, ""):
            raise answer.response.garbage(why="no data.custom_audience_id")
        return AudienceState(id=str(audience_id), health=AudienceHealth.PROCESSING,
                             detail="TikTok builds a look-alike in 24-48 hours.")

    # Users ---------------------------------------------------------------------------------
    def users_encode(
        self, *, audience: AudienceRef, match_fields: Sequence[str],
        rows: Sequence[dict[str, str]],
    ) -> EncodedUsers:
        fields = [f for f in dict.fromkeys(match_fields) if f in self.match_field_types]
        if not fields:
            raise Permanent(
                f"TikTok matches on {', '.join(self.match_field_types)}; "
                f"this step matches on {', '.join(match_fields) or 'nothing'}."
            )
        audience_ids = [audience.audience_id]
        # One inner list per user, aligned with id_schema: a missing id is {} (dropping it
        # would shift the user's other ids into the wrong columns).
        batch_data = []
        for row in rows:
            cells = [{"id": row[f], "audience_ids": audience_ids} if row.get(f) else {}
                     for f in fields]
            if any(cells):
                batch_data.append(cells)
        return EncodedUsers(schema=tuple(self.match_field_types[f] for f in fields),
                            items=batch_data)

    def users_send(
        self, *, credentials: Credentials, audience: AudienceRef, action: str,
        users: EncodedUsers, details: dict,
    ) -> SendResult:
        if not users.items:
            return SendResult(accepted=0, details=details)
        answer = self._call(
            "POST", "segment/mapping/", credentials=credentials,
            body={
                "advertiser_ids": [audience.ad_account_id],
                "action": ACTIONS[action],
                "id_schema": list(users.schema),
                "batch_data": users.items,
            },
        )
        if answer.code == PARTIAL_SUCCESS:
            details["partial_success"] = answer.message
        return SendResult(request_id=answer.request_id, accepted=len(users.items),
                          details=details)

    # One call ------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        credentials: Credentials | None,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        token_header: bool = True,
    ) -> Answer:
        """``credentials`` None: the token exchange, outside any rate budget."""
        budget = None
        headers = {}
        if credentials is not None:
            budget = RateBudget(key=self.rate_key(credentials.connection_id),
                                limits=self.rate_limits, share=credentials.share)
            if token_header:
                headers["Access-Token"] = credentials.access_token
        response = client.request(method, path, budget=budget, headers=headers, params=params,
                                  json_body=body)
        return _read(response)


def _audience_info(item: Mapping[str, Any]) -> AudienceInfo:
    audience_type = str(item.get("audience_type") or "")
    syncable = audience_type.strip().lower() == SYNCABLE_AUDIENCE_TYPE
    cover = item.get("cover_num")
    return AudienceInfo(
        id=str(item["audience_id"]),
        name=str(item.get("name") or ""),
        # TikTok shows 0 until about 1,000 users match: that is "not shown yet".
        size=cover if isinstance(cover, int) and cover > 0 else None,
        syncable=syncable,
        reason="" if syncable else (
            "Only TikTok partner (streaming) audiences can be synced; "
            f"this is a {audience_type or 'audience of unknown type'}."
        ),
        kind=audience_type,
    )


# An audience serves ads, and shows its size, from about this many matched users.
SERVES_FROM = 1_000


def _audience_state(item: Mapping[str, Any]) -> AudienceState:
    cover = item.get("cover_num")
    size = cover if isinstance(cover, int) and cover > 0 else None
    if item.get("is_valid") is False:
        health = AudienceHealth.PROCESSING
    elif size is None or size < SERVES_FROM:
        health = AudienceHealth.TOO_SMALL
    else:
        health = AudienceHealth.READY
    detail = "TikTok shows a size from about 1,000 matched users." if size is None else ""
    if item.get("is_expiring") is True:
        detail = (detail + " TikTok marks it as expiring: it has not been used lately.").strip()
    return AudienceState(id=str(item["audience_id"]), health=health, size=size, detail=detail)


def _read(response: PartnerResponse) -> Answer:
    if response.status != 200:
        # TikTok answers everything with HTTP 200: another status never reached the API.
        raise _http_error(response)
    payload = response.json()
    code = payload.get("code") if isinstance(payload, Mapping) else None
    if not isinstance(code, int) or isinstance(code, bool):
        raise response.garbage(why="no answer code")
    data = payload.get("data") or {}
    if not isinstance(data, Mapping):
        raise response.garbage(why="data is no object")
    message = response.scrub(str(payload.get("message") or ""))
    request_id = str(payload.get("request_id") or "")
    if code in SUCCESS:
        return Answer(code=code, message=message, request_id=request_id, data=data,
                      response=response)
    raise _code_error(code=code, message=message, request_id=request_id)


def _code_error(*, code: int, message: str, request_id: str) -> PartnerError:
    detail = f"{message} (code {code})"
    kwargs = {"request_id": request_id, "partner_code": code, "http_status": 200}
    if code in RATE_LIMITED:
        return RateLimited(f"TikTok rate limit reached: {detail}", **kwargs)
    if code in INVALID_TOKEN:
        return InvalidToken(f"TikTok refused the access token or permission: {detail}. "
                            "Reconnect TikTok.", **kwargs)
    if code in AUDIENCE_GONE:
        return AudienceGone(f"TikTok: the audience does not exist: {detail}", **kwargs)
    if code in TRANSIENT:
        return Transient(f"TikTok is busy or unavailable, retry later: {detail}", **kwargs)
    if code == BAD_PARAMETERS_OR_NOT_EDITABLE and STILL_PROCESSING.search(message):
        return Transient(f"TikTok is still processing the audience: {detail}", **kwargs)
    if code in BATCH_TOO_LARGE:
        return BatchTooLarge(f"TikTok refused the batch size: {detail}", **kwargs)
    if code == AUTH_CODE_INVALID:
        return Permanent(f"TikTok refused the authorisation code (invalid, used or expired): "
                         f"{detail}. Connect again.", **kwargs)
    if code >= 50000:  # undocumented system errors
        return Transient(f"TikTok is busy or unavailable, retry later: {detail}", **kwargs)
    return Permanent(f"{REFUSED}{detail}", **kwargs)


def _http_error(response: PartnerResponse) -> PartnerError:
    detail = (f"TikTok answered HTTP {response.status} to {response.method} {response.url}: "
              "the request did not reach the API")
    if response.status == 429:
        return RateLimited(detail, http_status=response.status)
    if response.status >= 500:
        return Transient(detail, http_status=response.status)
    return Permanent(detail, http_status=response.status)
