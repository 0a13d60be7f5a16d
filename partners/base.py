"""The one interface every partner module implements, and the errors the engine understands.

A partner module (``partners/tiktok.py``, ``partners/pinterest.py``) holds every quirk of
its partner; shared code never asks which partner it is talking to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models

# What ``send_users`` does with the users: add them to the audience or remove them.
SEND_ACTIONS = ("add", "remove")


# --- errors: what a partner answer means for the users of a batch -----------------------


class PartnerError(Exception):
    """A partner call failed. ``message`` is safe to show and store: it never holds a secret."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        request_id: str = "",
        partner_code: int | str | None = None,
        http_status: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.partner_code = partner_code
        self.http_status = http_status
        # Set when the call had already created the audience (or its list) at the partner
        # before it failed: record it, so that a retry completes it instead of making another.
        self.created_audience_id = ""


class RateLimited(PartnerError):
    """Too many requests: back off and retry; does not use up an attempt."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InvalidToken(PartnerError):
    """Token invalid, revoked or expired, or permission lost: the connection turns invalid."""


class AudienceGone(PartnerError):
    """The audience no longer exists at the partner (or cannot take users): error at once."""


class Transient(PartnerError):
    """5xx, timeout, connection error, write conflict, audience still processing: retry."""

    retryable = True


class BatchTooLarge(PartnerError):
    """The partner refused the batch size: a bug of ours; split the batch and resend."""


class Permanent(PartnerError):
    """Any other refusal (bad parameters, ...): do not resend blindly."""


# --- values exchanged with partner modules -------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What a call needs to authenticate, and the connection whose rate budget it uses."""

    access_token: str
    connection_id: int | None = None
    # The part of the scope's budget these calls may take: background reads take a tenth,
    # so that users being synced keep the rest.
    share: float = 1.0


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None  # None: does not expire (TikTok)
    refresh_expires_at: datetime | None = None
    scope: str = ""
    # Ad accounts the grant covers, when the token answer says so (TikTok advertiser_ids).
    ad_account_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdAccountInfo:
    id: str
    name: str
    currency: str = ""
    country: str = ""


@dataclass(frozen=True)
class AudienceInfo:
    id: str
    name: str
    size: int | None = None  # None: not shown yet (below the partner's threshold)
    # False when the product cannot add or remove users in it, with ``reason`` in plain words
    # (e.g. a TikTok audience that is not a streaming/partner audience).
    syncable: bool = True
    reason: str = ""
    kind: str = ""  # the partner's own type label, shown to the user


class AudienceHealth(models.TextChoices):
    """Whether the partner can serve ads to the audience, in the marketer's words."""

    PROCESSING = "processing", "Processing"
    TOO_SMALL = "too_small", "Too small to serve ads yet"
    READY = "ready", "Ready"


@dataclass(frozen=True)
class AudienceState:
    """An audience as the partner keeps it, read back (``Partner.audiences_state``)."""

    id: str
    health: AudienceHealth
    size: int | None = None  # None: the partner does not show a size yet
    # The partner's own figures in plain words (records uploaded and removed...).
    detail: str = ""


@dataclass(frozen=True)
class LookalikeOption:
    """One choice a partner's look-alike takes, for the form that asks for it: one of
    ``choices`` (value, label), or a whole number from ``low`` to ``high``."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...] = ()
    low: int = 0
    high: int = 0
    default: str = ""
    help: str = ""


@dataclass(frozen=True)
class AudienceRef:
    """The audience a batch of users goes to, as the partner knows it."""

    ad_account_id: str
    # "" for an audience not yet created at the partner (Pinterest: made with its first users).
    audience_id: str = ""
    # The name it is (to be) created under; unique to its creation (``audience_name_marked``).
    name: str = ""
    # An earlier call may have created it and its answer was not recorded (``send_users``).
    pending: bool = False


@dataclass(frozen=True)
class EncodedUsers:
    """A batch's users in the partner's own shape: what one request carries."""

    # The partner's identifier types, in the order each item holds them.
    schema: tuple[str, ...]
    # One per user with at least one identifier the partner matches on.
    items: list[Any]


@dataclass(frozen=True)
class SendResult:
    """A batch the partner accepted."""

    request_id: str = ""
    accepted: int = 0
    # Set when the call created the audience at the partner (Pinterest's first batch).
    created_audience_id: str = ""
    details: dict = field(default_factory=dict)


# --- the interface --------------------------------------------------------------------------


class RateScope(models.TextChoices):
    """Who shares a partner's documented rate: every call of the product, or of a connection."""

    APP = "app", "The whole app"  # TikTok
    CONNECTION = "connection", "Each connection (its token)"  # Pinterest


@dataclass(frozen=True)
class RateLimits:
    """A rate scope's documented budgets; None: the partner sets no such budget."""

    per_s: float
    per_min: int | None = None
    per_day: int | None = None

    def scaled(self, share: float) -> RateLimits:
        """``share`` of every budget (at least one call per window)."""
        return RateLimits(
            per_s=self.per_s * share,
            per_min=None if self.per_min is None else max(1, int(self.per_min * share)),
            per_day=None if self.per_day is None else max(1, int(self.per_day * share)))

    def kwargs(self) -> dict:
        """As the rate limiter's functions take them."""
        return {"limit_per_s": self.per_s, "per_min": self.per_min, "per_day": self.per_day}


class Partner(ABC):
    key: str  # "tiktok"
    name: str  # "TikTok"
    rate_scope: RateScope
    # Partner id type per supported match field, e.g. {"email": "EMAIL_SHA256", ...}.
    match_field_types: dict[str, str]
    # Pinterest: an audience holds one identifier type, chosen when it is created.
    one_identifier_type_per_audience: bool = False
    # Pinterest: the audience is created at the partner with its first users, so nothing
    # exists there before they arrive (``create_audience`` makes nothing).
    creates_audience_on_first_batch: bool = False
    max_audiences_per_ad_account: int | None = None
    # The longest audience name the partner keeps whole (it cuts longer ones).
    audience_name_max_length: int | None = None
    # What the brand needs at the partner before connecting, as the partner page lists it.
    prerequisites: tuple[str, ...] = ()
    # Partner-specific (question, answer) pairs for the partner page's troubleshooting list.
    troubleshooting_own: tuple[tuple[str, str], ...] = ()
    # From how many matched users the partner shows an audience's size.
    size_shown_from: int | None = None

    def troubleshooting(self) -> list[tuple[str, str]]:
        """The partner page's troubleshooting list: what every partner shares, in this
        partner's words, then its own questions."""
        common = [
            ("The token is invalid",
             f"Someone at {self.name} removed this app's access, or the token expired. Press "
             f"Disconnect, then Connect {self.name} again, and check that the {self.name} "
             "admin granted audience-management permission on the ad accounts. Users wait "
             "(pending) meanwhile: none is lost."),
            ("The canvas will not launch",
             f"Launch lists every missing item: a {self.name} connection that is not healthy, "
             "no ad account chosen, a new audience without a name, no match fields chosen."),
            ("When will the audience show users?",
             f"{self.name} updates audience sizes in 24-48 hours"
             + (f", and shows a size once about {self.size_shown_from:,} users match."
                if self.size_shown_from else ".")),
            ("Did my users match?",
             f"{self.name} does not say which users it matched: \"Synced\" means {self.name} "
             "accepted them."),
        ]
        return common + list(self.troubleshooting_own)

    @property
    @abstractmethod
    def max_batch(self) -> int:
        """Users per add/remove request (settings, documented default)."""

    @property
    @abstractmethod
    def rate_per_s(self) -> float:
        """Documented requests per second in ``rate_scope`` (settings)."""

    @property
    def rate_limits(self) -> RateLimits:
        """Every budget of a rate scope (a partner with minute or day budgets says so)."""
        return RateLimits(per_s=self.rate_per_s)

    def rate_key(self, connection_id: int | None) -> str:
        """The shared rate-limit bucket a call for the connection counts against."""
        if self.rate_scope == RateScope.APP:
            return f"{self.key}:app"
        return f"{self.key}:connection-{connection_id}"

    # OAuth -----------------------------------------------------------------------------
    @abstractmethod
    def authorize_url(self, *, state: str, redirect_uri: str) -> str: ...

    @abstractmethod
    def exchange_code(self, *, code: str, redirect_uri: str) -> TokenSet: ...

    def refresh(self, *, refresh_token: str) -> TokenSet:
        raise Permanent(f"{self.name} tokens cannot be refreshed.")

    def revoke(self, *, credentials: Credentials) -> None:  # noqa: B027 (optional hook)
        """Best effort on disconnect; partners without a revoke endpoint do nothing."""

    # Accounts and audiences ---------------------------------------------------------------
    @abstractmethod
    def list_ad_accounts(self, *, credentials: Credentials) -> list[AdAccountInfo]:
        """Every ad account the grant reaches (all pages)."""

    @abstractmethod
    def list_audiences(
        self, *, credentials: Credentials, ad_account_id: str
    ) -> list[AudienceInfo]:
        """Every audience of the ad account (all pages)."""

    def audience_name_marked(self, *, name: str, marker: str) -> str:
        """The name to create an audience under: the user's name and a marker unique to this
        creation, so a retry can tell what an earlier attempt made (``audience_find``)."""
        suffix = f" ({marker})"
        if self.audience_name_max_length is not None:
            name = name[: self.audience_name_max_length - len(suffix)].rstrip()
        return name + suffix

    def audience_find(
        self, *, credentials: Credentials, ad_account_id: str, name: str
    ) -> AudienceInfo | None:
        """The audience (Pinterest: customer list) named exactly ``name``, if there is one."""
        listed = self.list_audiences(credentials=credentials, ad_account_id=ad_account_id)
        return next((audience for audience in listed if audience.name == name), None)

    @abstractmethod
    def create_audience(
        self, *, credentials: Credentials, ad_account_id: str, name: str,
        match_fields: Sequence[str],
    ) -> AudienceInfo | None:
        """Create it now; None when the partner creates it with the first batch (Pinterest)."""

    @abstractmethod
    def delete_audience(
        self, *, credentials: Credentials, ad_account_id: str, audience_id: str
    ) -> None: ...

    @abstractmethod
    def audiences_state(
        self, *, credentials: Credentials, ad_account_id: str, audience_ids: Sequence[str]
    ) -> dict[str, AudienceState]:
        """Size and health of the audiences (ids as stored here), in a few calls per ad
        account whatever their number; an id missing from the answer no longer exists at
        the partner."""

    # Look-alikes -------------------------------------------------------------------------
    # What a look-alike of this partner asks for (empty: the partner makes none).
    lookalike_options: tuple[LookalikeOption, ...] = ()

    def lookalike_create(
        self, *, credentials: Credentials, ad_account_id: str, seed_id: str, name: str,
        options: dict[str, str],
    ) -> AudienceState:
        """Create a look-alike of the audience ``seed_id`` (as stored here) with ``options``
        (one value per ``lookalike_options``, checked); its state as the partner answers.
        A seed below the partner's minimum: Permanent with the partner's refusal."""
        raise Permanent(f"{self.name} makes no look-alike audiences here.")

    def check(self, *, credentials: Credentials) -> None:
        """A cheap authenticated call; raises InvalidToken when the token no longer works."""
        self.list_ad_accounts(credentials=credentials)

    # Users --------------------------------------------------------------------------------
    def send_users(
        self,
        *,
        credentials: Credentials,
        audience: AudienceRef,
        action: str,
        match_fields: Sequence[str],
        rows: Sequence[dict[str, str]],
    ) -> SendResult:
        """Add (action "add") or remove ("remove") users; the same contract for every partner.

        ``rows``: one dict per user, match field -> lower-case SHA-256 hex; a field the user
        lacks is absent. At most ``max_batch`` rows: a larger batch is refused before any
        request. Users without any identifier the partner matches on are left out and
        counted in ``details["skipped_without_identifier"]``.

        ``audience.audience_id`` is "" for a Pinterest audience not yet created at the
        partner: the call creates it (named ``audience.name``) with these users and returns
        its id in ``created_audience_id``. ``audience.pending``: an earlier such call may have
        created it, whole or in part, and its answer was not recorded (or the error carried
        the list's id as ``audience_id``): this call first looks for what it made (by
        ``audience.name``, unique to the creation), completes it instead of making another,
        and returns its id.
        """
        if action not in SEND_ACTIONS:
            raise ValueError(f"action must be one of {sorted(SEND_ACTIONS)}, not {action!r}")
        if len(rows) > self.max_batch:
            raise BatchTooLarge(f"{len(rows)} users in one {self.name} request; at most "
                                f"{self.max_batch}.")
        users = self.users_encode(audience=audience, match_fields=match_fields, rows=rows)
        skipped = len(rows) - len(users.items)
        details = {"skipped_without_identifier": skipped} if skipped else {}
        return self.users_send(credentials=credentials, audience=audience, action=action,
                               users=users, details=details)

    @abstractmethod
    def users_encode(
        self, *, audience: AudienceRef, match_fields: Sequence[str],
        rows: Sequence[dict[str, str]],
    ) -> EncodedUsers:
        """The users in the partner's shape; Permanent when no match field is one it takes."""

    @abstractmethod
    def users_send(
        self, *, credentials: Credentials, audience: AudienceRef, action: str,
        users: EncodedUsers, details: dict,
    ) -> SendResult:
        """The request(s) for one checked batch; ``details`` go into the result."""
