"""The one place where match identifiers are normalised and hashed.

Every part of the product that reads an email, phone or advertising id goes through
here: the profile import (to warn about values a partner cannot use), the profile
pages, and the sync engine (to hash what leaves the product). The rules are pinned by
``tests/data/identifiers.csv``.

Two levels, because "absent" and "unusable" are different answers to a user:

- ``normalize`` judges one value. A blank value is not an identifier of that kind, so it
  gets the field's ``invalid_*`` reason (the test vectors say so for email; phones and
  advertising ids follow the same rule).
- ``profile_identifiers`` judges a profile's fields. A blank field is ``missing`` and an
  advertising id of a profile that refused ad tracking is ``ad_tracking_disabled``;
  everything else is ``normalize``.

A profile is judged once, when it is written: ``stored_row`` gives the columns it keeps
(each field's normalised value, SHA-256 and reason, ``missing`` for a blank field), which
entry copies into sync items and ``profile_stored_identifiers`` reads back with the same
answers as ``profile_identifiers``.
"""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from . import phones

EMAIL = "email"
PHONE = "phone"
IDFA = "idfa"
GAID = "gaid"
FIELDS = (EMAIL, PHONE, IDFA, GAID)
ADVERTISING_ID_FIELDS = (IDFA, GAID)

INVALID_EMAIL = "invalid_email"
INVALID_PHONE = "invalid_phone"
INVALID_ADVERTISING_ID = "invalid_advertising_id"
ZEROED_ADVERTISING_ID = "zeroed_advertising_id"
MISSING = "missing"
AD_TRACKING_DISABLED = "ad_tracking_disabled"

REASON_TEXT = {
    INVALID_EMAIL: "Not an email address (expected name@domain.tld).",
    INVALID_PHONE: "Not a phone number that can be written in international form "
    "(add the country code, or check the workspace's default country).",
    INVALID_ADVERTISING_ID: "Not a mobile advertising id (expected a UUID such as "
    "6d92078a-8246-4ba4-ae5b-76104861e7dc).",
    ZEROED_ADVERTISING_ID: "All-zero advertising id: the device refused ad tracking.",
    MISSING: "No value.",
    AD_TRACKING_DISABLED: "Ad tracking is turned off for this user, so the advertising id "
    "is not shared.",
}

# Partners accept identifiers their sender already hashed; such a value passes through.
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Any characters but "@" and spaces, then a domain of at least two labels with a TLD of
# two or more: Unicode is allowed on both sides (internationalised addresses are real).
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)*\.[^@\s.]{2,}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ZEROED_UUID = "00000000-0000-0000-0000-000000000000"
_E164 = phonenumbers.PhoneNumberFormat.E164
# Parsing a phone number with phonenumbers is by far the slowest step (25-100 us): numbers
# written plainly take the fast path of ``phones``, and for the others, which files and calls
# often carry again (re-imports, updates), recent answers are kept.
_PHONE_CACHE_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Normalized:
    """A usable identifier (``value`` and its ``sha256``) or the ``reason`` it is not."""

    field: str
    value: str | None = None
    sha256: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def reason_text(self) -> str:
        return REASON_TEXT[self.reason] if self.reason else ""


def normalize(*, field: str, raw: str, default_country: str = "") -> Normalized:
    """Normalise one raw value of ``field``; ``default_country`` matters for phones only."""
    value, sha256, reason = judge(field, raw, default_country)
    if reason:
        return Normalized(field=field, reason=reason)
    return Normalized(field=field, value=value, sha256=sha256)


def judge(field: str, raw: str, default_country: str) -> tuple[str, str, str]:
    """One raw value of ``field`` judged: (normalised value, SHA-256, "") or ("", "", reason).
    ``normalize`` and ``stored_values`` both go through here; positional and answering a
    tuple because the import calls it for every identifier of every row."""
    value = raw.strip()
    lowered = value.lower()
    if len(lowered) == 64 and _SHA256_HEX.fullmatch(lowered):
        return lowered, lowered, ""
    if field == EMAIL:
        if not _EMAIL.fullmatch(lowered):
            return "", "", INVALID_EMAIL
        value = lowered
    elif field == PHONE:
        value = _e164(value, default_country.upper() or None)
        if value is None:
            return "", "", INVALID_PHONE
    elif field in ADVERTISING_ID_FIELDS:
        if lowered == _ZEROED_UUID:
            return "", "", ZEROED_ADVERTISING_ID
        if not _UUID.fullmatch(lowered):
            return "", "", INVALID_ADVERTISING_ID
        value = lowered
    else:
        raise ValueError(f"{field!r} is not an identifier field; expected one of {FIELDS}.")
    return value, hashlib.sha256(value.encode()).hexdigest(), ""


def profile_identifiers(
    *,
    profile,
    default_country: str,
    fields: Iterable[str] = FIELDS,
    respect_ad_tracking: bool = True,
) -> dict[str, Normalized]:
    """Each of ``fields`` of a profile (anything with those attributes), judged for sync.

    With ``respect_ad_tracking`` (the default) the advertising ids of a profile whose
    ``ad_tracking_enabled`` is false are withheld; only a caller that has the user's
    consent some other way turns it off.
    """
    judged = {}
    withhold_ad_ids = respect_ad_tracking and not profile.ad_tracking_enabled
    for field in fields:
        raw = getattr(profile, field)
        if not raw or raw.isspace():
            judged[field] = Normalized(field=field, reason=MISSING)
        elif field in ADVERTISING_ID_FIELDS and withhold_ad_ids:
            judged[field] = Normalized(field=field, reason=AD_TRACKING_DISABLED)
        else:
            judged[field] = normalize(field=field, raw=raw, default_country=default_country)
    return judged


def stored_columns(field: str) -> tuple[str, str, str]:
    """The profile columns that hold ``field`` judged: normalised value, SHA-256, reason."""
    return f"{field}_normalized", f"{field}_sha256", f"{field}_reason"


STORED_COLUMNS = tuple(column for field in FIELDS for column in stored_columns(field))


def stored_values(*, field: str, raw: str, default_country: str) -> tuple[str, str, str]:
    """What a profile stores of ``raw`` in ``stored_columns(field)``: a usable value and its
    hash with no reason, or blanks and the reason (``missing`` for a blank value)."""
    if not raw or raw.isspace():
        return "", "", MISSING
    return judge(field, raw, default_country)


def stored_row(*, values: dict[str, str], default_country: str) -> dict[str, str]:
    """The stored columns of each identifier field in ``values`` (raw values by field)."""
    row = {}
    for field, raw in values.items():
        row.update(zip(stored_columns(field),
                       stored_values(field=field, raw=raw, default_country=default_country),
                       strict=True))
    return row


def profile_stored_identifiers(*, profile, respect_ad_tracking: bool = True
                               ) -> dict[str, Normalized]:
    """A profile's identifiers as judged when it was written (its stored columns), with the
    same answers as ``profile_identifiers``, without judging again."""
    judged = {}
    withhold_ad_ids = respect_ad_tracking and not profile.ad_tracking_enabled
    for field in FIELDS:
        value, sha256, reason = (getattr(profile, column) for column in stored_columns(field))
        if field in ADVERTISING_ID_FIELDS and withhold_ad_ids and reason != MISSING:
            judged[field] = Normalized(field=field, reason=AD_TRACKING_DISABLED)
        elif reason:
            judged[field] = Normalized(field=field, reason=reason)
        else:
            judged[field] = Normalized(field=field, value=value, sha256=sha256)
    return judged


def _e164(value: str, region: str | None) -> str | None:
    fast = phones.e164_fast(value, region)
    return _e164_parsed(value, region) if fast is phones.UNDECIDED else fast


@lru_cache(maxsize=_PHONE_CACHE_SIZE)
def _e164_parsed(value: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, _E164)
