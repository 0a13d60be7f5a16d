"""Pinterest API v5: OAuth, ad accounts, customer lists and the audiences built on them.

Users go into a customer list (one identifier type per list, never empty), and a
CUSTOMER_LIST audience on top of it is what ads target. Pinterest answers with real HTTP
statuses and ``{"code", "message"}`` error bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from django.conf import settings
from django.utils import timezone

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
    RateScope,
    SendResult,
    TokenSet,
    Transient,
)
from .http import PartnerClient, PartnerResponse, RateBudget

client = PartnerClient(partner_name="Pinterest", base_url_setting="PINTEREST_API_BASE_URL")

SCOPE = "ads:read,ads:write"
REFUSED = "Pinterest refused the request: "  # how a refusal's message begins
ACTALIKE = "ACTALIKE"  # Pinterest's look-alike audience type
ACTALIKE_COUNTRIES = (
    ("US", "United States"), ("CA", "Canada"), ("GB", "United Kingdom"), ("DE", "Germany"),
    ("FR", "France"), ("AU", "Australia"),
)
PAGE_SIZE = 250  # the API's maximum
OPERATIONS = {"add": "ADD", "remove": "REMOVE"}
# Which of a user's ids becomes the one record a list takes: a MAID list prefers the IDFA.
RECORD_PREFERENCE = ("email", "idfa", "gaid")
INVALID_TOKEN_403_CODES = {29}
TOO_MANY_RECORDS = re.compile(r"too many records", re.IGNORECASE)
REQUEST_ID_HEADERS = ("x-pinterest-rid", "x-request-id")

Payload = Mapping[str, Any]


class Pinterest(Partner):
    key = "pinterest"
    name = "Pinterest"
    rate_scope = RateScope.CONNECTION
    match_field_types = {"email": "EMAIL", "idfa": "MAID", "gaid": "MAID"}
    one_identifier_type_per_audience = True
    creates_audience_on_first_batch = True
    size_shown_from = 100
    prerequisites = (
        "A Pinterest business account, with the ad accounts to sync to in Pinterest "
        "Business Hub.",
        "Admin rights on those ad accounts, for the person who connects.",
        "Pinterest's Audience Terms accepted for each ad account, in Ads Manager.",
    )
    troubleshooting_own = (
        ("The audience does not appear at Pinterest yet",
         "Pinterest creates the audience with its first users: it appears once the first "
         "batch is sent. An audience holds one identifier type (email or mobile ad ids)."),
    )

    @property
    def max_batch(self) -> int:
        return settings.PINTEREST_MAX_BATCH

    @property
    def rate_per_s(self) -> float:
        return settings.PINTEREST_RATE_PER_S

    # OAuth ---------------------------------------------------------------------------------
    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        query = urlencode({
            "client_id": settings.PINTEREST_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPE,
            "state": state,
        })
        return f"{settings.PINTEREST_AUTHORIZE_URL}?{query}"

    def exchange_code(self, *, code: str, redirect_uri: str) -> TokenSet:
        return self._token(
            form={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            refresh_token="",
        )

    def refresh(self, *, refresh_token: str) -> TokenSet:
        try:
            return self._token(
                form={"grant_type": "refresh_token", "refresh_token": refresh_token},
                refresh_token=refresh_token,
            )
        except (Permanent, AudienceGone) as error:
            # A refused refresh token only comes back with a new grant: reconnect.
            raise InvalidToken(
                f"Pinterest refused to refresh the token: {error.message}. Reconnect Pinterest.",
                request_id=error.request_id, partner_code=error.partner_code,
                http_status=error.http_status,
            ) from error

    # Accounts and audiences ----------------------------------------------------------------
    def list_ad_accounts(self, *, credentials: Credentials) -> list[AdAccountInfo]:
        return [
            AdAccountInfo(
                id=str(item["id"]),
                name=str(item.get("name") or ""),
                currency=str(item.get("currency") or ""),
                country=str(item.get("country") or ""),
            )
            for item in self._pages("ad_accounts", credentials=credentials)
        ]

    def list_audiences(
        self, *, credentials: Credentials, ad_account_id: str
    ) -> list[AudienceInfo]:
        # The customer list is what users go into, so it is the audience here.
        return [
            AudienceInfo(id=str(item["id"]), name=str(item.get("name") or ""),
                         kind=str(item.get("list_type") or ""))
            for item in self._pages(f"ad_accounts/{ad_account_id}/customer_lists",
                                    credentials=credentials)
        ]

    def audiences_state(
        self, *, credentials: Credentials, ad_account_id: str, audience_ids: Sequence[str]
    ) -> dict[str, AudienceState]:
        # The customer list has the status and record counts, the audience built on it the
        # size: one listing of each per ad account (250 a page).
        # A look-alike made here is stored by its audience id: it has no customer list.
        wanted = set(audience_ids)
        lists = [item for item in self._pages(f"ad_accounts/{ad_account_id}/customer_lists",
                                              credentials=credentials)
                 if str(item["id"]) in wanted]
        audiences = list(self._pages(f"ad_accounts/{ad_account_id}/audiences",
                                     credentials=credentials))
        built_on = {str((item.get("rule") or {}).get("customer_list_id")): item
                    for item in audiences if item.get("audience_type") == "CUSTOMER_LIST"}
        states = {str(item["id"]): _list_state(item, built_on.get(str(item["id"])))
                  for item in lists}
        states.update({str(item["id"]): _audience_state(item) for item in audiences
                       if item.get("audience_type") == ACTALIKE and str(item["id"]) in wanted})
        return states

    lookalike_options = (
        LookalikeOption("country", "Country", choices=ACTALIKE_COUNTRIES, default="US",
                        help="Where Pinterest looks for people like the seed audience."),
        LookalikeOption("percentage", "Reach, in percent of the country's users", low=1,
                        high=10, default="5",
                        help="1: the most similar people; 10: the largest reach."),
    )

    def lookalike_create(
        self, *, credentials: Credentials, ad_account_id: str, seed_id: str, name: str,
        options: dict[str, str],
    ) -> AudienceState:
        # Users go into the customer list stored here; ads (and look-alikes) use the
        # audience built on it.
        built = self._audiences_on_list(credentials=credentials, ad_account_id=ad_account_id,
                                        list_id=seed_id)
        if not built:
            raise Permanent("Pinterest has no targetable audience on this list yet: it is "
                            "made with the list's first users.")
        try:
            audience, response = self._request(
                "POST", f"ad_accounts/{ad_account_id}/audiences", credentials=credentials,
                body={"name": name, "audience_type": ACTALIKE,
                      "rule": {"seed_id": [str(built[0]["id"])], "country": options["country"],
                               "percentage": int(options["percentage"])}})
        except Permanent as error:
            raise Permanent(
                f"Pinterest refused the look-alike: {error.message.removeprefix(REFUSED)} A "
                "look-alike needs a seed audience of about 100 matched users.",
                request_id=error.request_id, partner_code=error.partner_code,
                http_status=error.http_status) from error
        if not audience.get("id"):
            raise response.garbage(why="no audience id")
        return _audience_state(audience)

    def create_audience(
        self, *, credentials: Credentials, ad_account_id: str, name: str,
        match_fields: Sequence[str],
    ) -> None:
        # Pinterest refuses an empty customer list: it is created with the first batch.
        self._list_type(match_fields)

    def delete_audience(
        self, *, credentials: Credentials, ad_account_id: str, audience_id: str
    ) -> None:
        """Archive the audiences built on the customer list ``audience_id``.

        Pinterest's API cannot delete a customer list; it can remove (archive) the
        targetable audience, which is what ads use.
        """
        built_on_list = [str(item["id"]) for item in self._audiences_on_list(
            credentials=credentials, ad_account_id=ad_account_id, list_id=audience_id)]
        for pinterest_audience_id in built_on_list:
            self._request(
                "PATCH", f"ad_accounts/{ad_account_id}/audiences/{pinterest_audience_id}",
                credentials=credentials, body={"operation_type": "REMOVE"},
            )

    # Users ---------------------------------------------------------------------------------
    def users_encode(
        self, *, audience: AudienceRef, match_fields: Sequence[str],
        rows: Sequence[dict[str, str]],
    ) -> EncodedUsers:
        list_type, fields = self._list_type(match_fields)
        return EncodedUsers(schema=(list_type,),
                            items=[record for row in rows if (record := _record(row, fields))])

    def users_send(
        self, *, credentials: Credentials, audience: AudienceRef, action: str,
        users: EncodedUsers, details: dict,
    ) -> SendResult:
        ad_account_id, audience_id = audience.ad_account_id, audience.audience_id
        records = users.items
        if not audience_id and audience.pending:
            # An earlier attempt may have made the list and lost the answer: use that one.
            made = self.audience_find(credentials=credentials, ad_account_id=ad_account_id,
                                      name=audience.name)
            audience_id = made.id if made else ""
        if not audience_id and action == "remove":
            # Nothing was ever added to a list that does not exist yet.
            return SendResult(accepted=0, details={"no_op": "the list is not created yet"})
        if not records:
            return SendResult(accepted=0, details=details)
        if not audience_id:
            return self._create_with_first_batch(
                credentials=credentials, ad_account_id=ad_account_id, name=audience.name,
                list_type=users.schema[0], records=records, details=details,
            )
        _, response = self._request(
            "PATCH", f"ad_accounts/{ad_account_id}/customer_lists/{audience_id}",
            credentials=credentials,
            body={"operation_type": OPERATIONS[action], "records": ",".join(records)},
        )
        if audience.pending:  # the list exists; the audience targeting it may not
            made_audience = self._list_audience_ensure(
                credentials=credentials, ad_account_id=ad_account_id, name=audience.name,
                list_id=audience_id)
            return SendResult(
                request_id=_request_id(response), accepted=len(records),
                created_audience_id=audience_id,
                details={**details,
                         "pinterest_audience_id": str(made_audience.get("id") or "")})
        return SendResult(request_id=_request_id(response), accepted=len(records),
                          details=details)

    def _create_with_first_batch(
        self, *, credentials: Credentials, ad_account_id: str, name: str, list_type: str,
        records: list[str], details: dict,
    ) -> SendResult:
        customer_list, response = self._request(
            "POST", f"ad_accounts/{ad_account_id}/customer_lists", credentials=credentials,
            body={"name": name, "records": ",".join(records), "list_type": list_type},
        )
        list_id = customer_list.get("id")
        if list_id in (None, ""):
            raise response.garbage(why="no customer list id")
        try:
            audience = self._create_list_audience(
                credentials=credentials, ad_account_id=ad_account_id, name=name,
                list_id=str(list_id))
        except PartnerError as error:
            # The list holds this batch's users already: a retry must complete it, not make
            # a second list.
            error.created_audience_id = str(list_id)
            raise
        return SendResult(
            request_id=_request_id(response), accepted=len(records),
            created_audience_id=str(list_id),
            details={**details, "pinterest_audience_id": str(audience.get("id") or "")},
        )

    def _audiences_on_list(self, *, credentials: Credentials, ad_account_id: str,
                           list_id: str) -> list[Payload]:
        return [
            item for item in self._pages(f"ad_accounts/{ad_account_id}/audiences",
                                         credentials=credentials)
            if item.get("audience_type") == "CUSTOMER_LIST"
            and str((item.get("rule") or {}).get("customer_list_id")) == list_id
        ]

    def _list_audience_ensure(self, *, credentials: Credentials, ad_account_id: str, name: str,
                              list_id: str) -> Payload:
        """The audience targeting the list: the one an earlier attempt made, else a new one."""
        made = self._audiences_on_list(credentials=credentials, ad_account_id=ad_account_id,
                                       list_id=list_id)
        if made:
            return made[0]
        return self._create_list_audience(credentials=credentials, ad_account_id=ad_account_id,
                                          name=name, list_id=list_id)

    def _create_list_audience(self, *, credentials: Credentials, ad_account_id: str, name: str,
                              list_id: str) -> dict:
        audience, _ = self._request(
            "POST", f"ad_accounts/{ad_account_id}/audiences", credentials=credentials,
            body={"name": name, "audience_type": "CUSTOMER_LIST",
                  "rule": {"customer_list_id": list_id}},
        )
        return audience

    def _list_type(self, match_fields: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        """The list type the match fields make, and the fields in record preference order."""
        supported = [f for f in match_fields if f in self.match_field_types]
        list_types = {self.match_field_types[f] for f in supported}
        if not list_types:
            raise Permanent(
                "Pinterest matches on email or mobile ad ids (idfa, gaid); this step matches "
                f"on {', '.join(match_fields) or 'nothing'}."
            )
        if len(list_types) > 1:
            raise Permanent(
                "A Pinterest audience holds one identifier type: match on email, or on "
                "mobile ad ids (idfa, gaid), not both."
            )
        return list_types.pop(), tuple(f for f in RECORD_PREFERENCE if f in supported)

    # Calls ---------------------------------------------------------------------------------
    def _token(self, *, form: Mapping[str, str], refresh_token: str) -> TokenSet:
        """``refresh_token``: the one in use, kept when the answer brings no new one."""
        response = client.request(
            "POST", "oauth/token", budget=None, form=form,
            basic_auth=(settings.PINTEREST_CLIENT_ID, settings.PINTEREST_CLIENT_SECRET),
        )
        payload = _read(response)
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise response.garbage(why="no access_token")
        now = timezone.now()
        return TokenSet(
            access_token=access_token,
            refresh_token=str(payload.get("refresh_token") or refresh_token),
            expires_at=_after(now, payload.get("expires_in")),
            refresh_expires_at=(
                _after(now, payload.get("refresh_token_expires_in"))
                or _at(payload.get("refresh_token_expires_at"))
            ),
            scope=str(payload.get("scope") or ""),
        )

    def _pages(self, path: str, *, credentials: Credentials) -> Iterator[Payload]:
        """Every item of a bookmark-paged list."""
        bookmark = ""
        seen: set[str] = set()
        while True:
            params: dict[str, str | int] = {"page_size": PAGE_SIZE}
            if bookmark:
                params["bookmark"] = bookmark
            page, response = self._request("GET", path, credentials=credentials,
                                           params=params)
            items = page.get("items")
            if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
                raise response.garbage(why="no items list")
            if not all("id" in item for item in items):
                raise response.garbage(why="an item without id")
            yield from items
            bookmark = page.get("bookmark") or ""
            if not bookmark:
                return
            if bookmark in seen:  # a partner bug would otherwise page forever
                raise response.garbage(why="the same page bookmark twice")
            seen.add(bookmark)

    def _request(
        self,
        method: str,
        path: str,
        *,
        credentials: Credentials,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> tuple[Payload, PartnerResponse]:
        response = client.request(
            method, path,
            budget=RateBudget(key=self.rate_key(credentials.connection_id),
                              limits=self.rate_limits, share=credentials.share),
            headers={"Authorization": f"Bearer {credentials.access_token}"},
            params=params, json_body=body,
        )
        return _read(response), response


LIST_HEALTH = {"PROCESSING": AudienceHealth.PROCESSING, "TOO_SMALL": AudienceHealth.TOO_SMALL,
               "READY": AudienceHealth.READY}


def _audience_state(audience: Payload) -> AudienceState:
    """A targetable audience's own state (a look-alike: no customer list under it)."""
    size = audience.get("size")
    size = size if isinstance(size, int) else None
    health = LIST_HEALTH.get(str(audience.get("status")), AudienceHealth.PROCESSING)
    if health == AudienceHealth.READY and size is None:
        health = AudienceHealth.TOO_SMALL
    return AudienceState(id=str(audience["id"]), health=health, size=size,
                         detail="" if size else "Pinterest builds a look-alike in 24-48 hours.")


def _list_state(customer_list: Payload, audience: Payload | None) -> AudienceState:
    """A customer list's status and counts, with the size of the audience built on it."""
    size = (audience or {}).get("size")
    uploaded = customer_list.get("num_uploaded_user_records")
    removed = customer_list.get("num_removed_user_records")
    parts = []
    if isinstance(uploaded, int) and isinstance(removed, int):
        # Both grow for duplicates and for users Pinterest does not know: not a size.
        parts.append(f"{uploaded:,} records uploaded and {removed:,} removed so far.")
    if audience is None:
        parts.append("No targetable audience is built on this list yet.")
    elif not isinstance(size, int):
        parts.append("Pinterest shows a size from about 100 matched users.")
    return AudienceState(
        id=str(customer_list["id"]),
        health=LIST_HEALTH.get(str(customer_list.get("status")), AudienceHealth.PROCESSING),
        size=size if isinstance(size, int) else None, detail=" ".join(parts))


def _record(row: Mapping[str, str], fields: Sequence[str]) -> str:
    return next((row[f] for f in fields if row.get(f)), "")


def _after(now: datetime, seconds: Any) -> datetime | None:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return now + timedelta(seconds=seconds)
    return None


def _at(epoch_seconds: Any) -> datetime | None:
    if isinstance(epoch_seconds, int | float) and not isinstance(epoch_seconds, bool):
        return datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return None


def _request_id(response: PartnerResponse) -> str:
    return next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), "")


def _read(response: PartnerResponse) -> Payload:
    if response.ok:
        if response.status == 204:
            return {}
        payload = response.json()
        if not isinstance(payload, Mapping):
            raise response.garbage(why="not a JSON object")
        return payload
    raise _error(response)


def _error(response: PartnerResponse) -> PartnerError:
    status = response.status
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        payload = None
    code = payload.get("code") if isinstance(payload, Mapping) else None
    message = ""
    if isinstance(payload, Mapping):
        # OAuth errors may come in the OAuth shape instead of {"code", "message"}.
        raw = (payload.get("message") or payload.get("error_description")
               or payload.get("error") or "")
        message = response.scrub(str(raw))
    detail = f"{message or 'no message'} (HTTP {status}" + (
        f", code {code})" if code is not None else ")")
    kwargs = {"request_id": _request_id(response), "http_status": status,
              "partner_code": code if isinstance(code, int | str) else None}
    if status == 429:
        return RateLimited(f"Pinterest rate limit reached: {detail}",
                           retry_after=_retry_after(response.headers.get("Retry-After")),
                           **kwargs)
    if status == 401 or (status == 403 and code in INVALID_TOKEN_403_CODES):
        return InvalidToken(f"Pinterest refused the access token or permission: {detail}. "
                            "Reconnect Pinterest.", **kwargs)
    if status == 404:
        return AudienceGone(f"Pinterest: not found (the list or ad account is gone): {detail}",
                            **kwargs)
    if status >= 500:
        return Transient(f"Pinterest is unavailable, retry later: {detail}", **kwargs)
    if status == 413 or (status == 400 and TOO_MANY_RECORDS.search(message)):
        return BatchTooLarge(f"Pinterest refused the batch size: {detail}", **kwargs)
    if not message:
        return response.garbage(why="an error without a message")
    return Permanent(f"{REFUSED}{detail}", **kwargs)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - timezone.now()).total_seconds())
